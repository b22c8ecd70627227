"""Which language a lead wrote in, so the reply is written in it (or held back for a human).

py3langid (a maintained fork of langid.py) restricted to the languages the classifier reads.
A short or mixed text gives no answer ("") rather than a guess: a wrong guess would hold a good
English reply back, or send one in the wrong language. The model loads once per process
(about 2 s); worker parents load it before they fork.
"""

from __future__ import annotations

import threading

from pipeline.agents.text import URL_RE, words_in

# ISO 639-1 codes of the languages the classifier reads (see pipeline.agents.concepts).
LANGUAGES = (
    "en", "de", "fr", "es", "pt", "it", "nl", "pl", "cs", "sv", "no", "da", "fi", "tr", "ru",
    "ja", "zh", "ko", "ar", "hi",
)  # fmt: skip
NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "cs": "Czech",
    "sv": "Swedish",
    "no": "Norwegian",
    "da": "Danish",
    "fi": "Finnish",
    "tr": "Turkish",
    "ru": "Russian",
    "ja": "Japanese",
    "zh": "Chinese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
}
# Below this normalised probability the detector's answer is a guess.
MIN_PROBABILITY = 0.7
MIN_WORDS = 3

_lock = threading.Lock()
_identifier = None


def identifier():
    """The py3langid model, loaded once per process."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid import langid

            model = langid.LanguageIdentifier.from_modelpath(
                langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
            )
            model.set_languages(list(LANGUAGES))
            _identifier = model
        return _identifier


def detect_language(text: str) -> str:
    """The ISO 639-1 code of the text's language, or "" when it is too short or unclear."""
    text = URL_RE.sub(" ", text or "")
    unspaced = sum(
        1 for char in text if "\u3040" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7af"
    )
    if len(words_in(text)) < MIN_WORDS and unspaced < 6:
        return ""
    language, probability = identifier().classify(text)
    return language if probability >= MIN_PROBABILITY else ""


def language_name(code: str) -> str:
    return NAMES.get(code, code)
