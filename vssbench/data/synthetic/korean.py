"""Hangul helpers: particles that agree with the final consonant, and the Hangul share of a text."""

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3

# Particle pairs: (after a final consonant, after a vowel).
PARTICLES = {
    "은": ("은", "는"),
    "이": ("이", "가"),
    "을": ("을", "를"),
    "과": ("과", "와"),
    "으로": ("으로", "로"),
}
# Suffixes a reader strips to find the noun; longest first so "에서" wins over "서"-less forms.
STRIPPABLE = sorted(
    {p for pair in PARTICLES.values() for p in pair} | {"의", "에", "에서", "도", "만"},
    key=len,
    reverse=True,
)


def is_hangul(ch: str) -> bool:
    return _HANGUL_FIRST <= ord(ch) <= _HANGUL_LAST


def has_final_consonant(word: str) -> bool:
    last = word[-1]
    return is_hangul(last) and (ord(last) - _HANGUL_FIRST) % 28 != 0


def attach(word: str, particle: str) -> str:
    """Attach a particle in the form that agrees with the word's last syllable (은/는, 이/가, ...)."""
    if particle not in PARTICLES:
        return word + particle
    with_final, without_final = PARTICLES[particle]
    # 으로 takes 로 after a vowel and after ㄹ.
    if particle == "으로" and (ord(word[-1]) - _HANGUL_FIRST) % 28 == 8:
        return word + without_final
    return word + (with_final if has_final_consonant(word) else without_final)


def hangul_share(text: str) -> float:
    """Share of letters (str.isalpha) that are Hangul syllables."""
    letters = [ch for ch in text if ch.isalpha()]
    return sum(map(is_hangul, letters)) / len(letters) if letters else 0.0
