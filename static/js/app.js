// LeadOps front-end behaviour that needs JavaScript lives in static files (the CSP forbids
// inline scripts). Page-specific code is in its own file.
