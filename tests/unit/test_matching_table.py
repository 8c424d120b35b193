"""Matching, table-driven: real-style statements in en/hy/az/ru/tr, true and false positives.

Each row is one statement and the topics (with the words found) it must give; an empty mapping
means it must match nothing. The topics are close to the shipped watchlist's.
"""

from __future__ import annotations

import pytest

from bot.matching import compile_topics
from bot.model import Term, Topic


def terms(lang: str, *texts: str) -> tuple[Term, ...]:
    return tuple(Term(t.rstrip("*"), lang, prefix=t.endswith("*")) for t in texts)


KARABAKH = Topic(
    id="karabakh",
    name="Nagorno-Karabakh",
    terms=terms("en", "Artsakh", "Nagorno-Karabakh", "Karabakh", "Stepanakert", "line of contact")
    + terms("hy", "Արցախ*", "Ստեփանակերտ*", "Ղարաբաղ*")
    + terms("az", "Qarabağ*", "Xankəndi*")
    + terms("ru", "Арцах*", "Карабах*", "Степанакерт*")
    + terms("tr", "Karabağ*", "Dağlık Karabağ*"),
    exclude=terms("en", "Qarabag FK", "Karabakh horse*")
    + terms("az", "Qarabağ FK")
    + terms("tr", "Karabağ FK", "Karabağlar*"),
)
CEASEFIRE = Topic(
    id="ceasefire",
    name="Ceasefire",
    terms=terms("en", "ceasefire*", "cease-fire*", "truce*")
    + terms("hy", "հրադադար*", "զինադադար*")
    + terms("az", "atəşkəs*")
    + terms("ru", "перемири*", "прекращени* огня")
    + terms("tr", "ateşkes*"),
    require=(
        terms("en", "Armenia*", "Azerbaijan*", "Artsakh*", "Karabakh*")
        + terms("hy", "Հայաստան*", "Ադրբեջան*", "Արցախ*")
        + terms("az", "Ermənistan*", "Azərbaycan*", "Qarabağ*")
        + terms("ru", "Армени*", "Азербайджан*", "Карабах*")
        + terms("tr", "Ermenistan*", "Azerbaycan*", "Karabağ*"),
    ),
)
PRISONERS = Topic(
    id="prisoners",
    name="Prisoners of war",
    terms=terms("en", "prisoners of war", "POWs", "detainee*")
    + terms("hy", "ռազմագերի*", "գերիներ*")
    + terms("az", "əsir*")
    + terms("ru", "военнопленн*")
    + terms("tr", "esir*"),
    exclude=terms("", "exchange rate*"),
)
NAMES = Topic(
    id="names",
    name="Leaders",
    terms=terms("ru", "Пашинян*", "Алиев*") + terms("en", "Shusha", "DiCarlo"),
    transliterate=True,
)
# Issue 7: Ukrainian and Russian city names, written in Cyrillic only, and in Latin only. The
# English term "Kiev" is exact: the Russian "Киев*" must not widen it to "Kievan".
CITIES_CYR = Topic(
    id="cities-cyr",
    name="Cities (Cyrillic terms)",
    terms=terms("en", "Kiev")
    + terms("uk", "Київ*", "Запоріжжя", "Одеса")
    + terms("ru", "Киев*", "Запорожье"),
    transliterate=True,
)
CITIES_LAT = Topic(
    id="cities-lat",
    name="Cities (Latin terms)",
    terms=terms("en", "Kyiv", "Zaporizhzhia", "Odesa", "Zaporozhye"),
    transliterate=True,
)
# Acronyms are not transliterated: "АЭС" is a nuclear plant, "AES" a US power company.
NUCLEAR = Topic(
    id="nuclear",
    name="Nuclear plants",
    terms=terms("ru", "АЭС", "атомн* станци*") + terms("uk", "АЕС") + terms("en", "NPP"),
    transliterate=True,
)
MATCHER = compile_topics([KARABAKH, CEASEFIRE, PRISONERS, NAMES, CITIES_CYR, CITIES_LAT, NUCLEAR])

Expected = dict[str, list[str]]
CASES: list[tuple[str, str, Expected]] = [
    # --- English ---------------------------------------------------------------------------
    ("en-plain", "Artsakh authorities reported shelling.", {"karabakh": ["Artsakh"]}),
    ("en-possessive", "Karabakh's future is at stake", {"karabakh": ["Karabakh"]}),
    ("en-hyphenated", "Nagorno-Karabakh conflict", {"karabakh": ["Nagorno-Karabakh", "Karabakh"]}),
    ("en-phrase-newline", "along the line\nof contact", {"karabakh": ["line\nof contact"]}),
    ("en-upper", "STEPANAKERT UNDER FIRE", {"karabakh": ["STEPANAKERT"]}),
    ("en-no-longer-word", "The Artsakhian delegation", {}),
    ("en-no-prefix-term-inflection", "Stepanakertians gathered", {}),
    ("en-glued", "NagornoKarabakh", {}),
    ("en-exclude-horse", "Karabakh horses won the show", {}),
    ("en-exclude-football", "Qarabag FK beat Ajax", {}),
    ("en-other-place", "Karabük and Karabaş are in Turkey", {}),
    ("en-word-starting-like-term", "Kara and Bakh met in Artsakhstan", {}),
    (
        "en-ceasefire-with-party",
        "Azerbaijan violated the ceasefire",
        {"ceasefire": ["Azerbaijan", "ceasefire"]},
    ),
    ("en-ceasefire-elsewhere", "The Idlib ceasefire holds, Ankara says", {}),
    (
        "en-cease-fire-hyphen",
        "Armenia proposes a cease-fire",
        {"ceasefire": ["Armenia", "cease-fire"]},
    ),
    (
        "en-truce-karabakh",
        "A humanitarian truce in Karabakh",
        {"karabakh": ["Karabakh"], "ceasefire": ["truce", "Karabakh"]},
    ),
    ("en-pows", "Exchange of POWs agreed", {"prisoners": ["POWs"]}),
    ("en-pow-singular-is-not-pows", "A POW camp", {}),
    ("en-exclude-anywhere", "detainees and the exchange rate", {}),
    # --- Armenian --------------------------------------------------------------------------
    ("hy-genitive", "Արցախի Հանրապետության ԱԳՆ", {"karabakh": ["Արցախի"]}),
    ("hy-locative", "Ստեփանակերտում ռմբակոծություն", {"karabakh": ["Ստեփանակերտում"]}),
    ("hy-upper", "ԱՐՑԱԽ", {"karabakh": ["ԱՐՑԱԽ"]}),
    ("hy-karabakh", "Լեռնային Ղարաբաղի հակամարտություն", {"karabakh": ["Ղարաբաղի"]}),
    ("hy-question-mark-inside", "Ստեփանակե՞րտ", {"karabakh": ["Ստեփանակե՞րտ"]}),
    (
        "hy-ceasefire",
        "Ադրբեջանը խախտել է հրադադարը",
        {"ceasefire": ["Ադրբեջանը", "հրադադարը"]},
    ),
    ("hy-prisoners", "ռազմագերիների վերադարձ", {"prisoners": ["ռազմագերիների"]}),
    ("hy-no-term", "Երևանում եղանակը արևոտ է", {}),
    # --- Azerbaijani -----------------------------------------------------------------------
    ("az-suffix", "Qarabağda vəziyyət sabitdir", {"karabakh": ["Qarabağda"]}),
    ("az-no-diacritics", "Qarabagda vəziyyət", {"karabakh": ["Qarabagda"]}),
    ("az-upper-dotted", "QARABAĞ İQTİSADİ RAYONU", {"karabakh": ["QARABAĞ"]}),
    ("az-schwa", "Xankəndidə", {"karabakh": ["Xankəndidə"]}),
    ("az-schwa-typed-e", "Xankendi şəhəri", {"karabakh": ["Xankendi"]}),
    ("az-exclude-fk", "Qarabağ FK qalib gəldi", {}),
    (
        "az-ceasefire",
        "Ermənistan atəşkəsi pozdu",
        {"ceasefire": ["Ermənistan", "atəşkəsi"]},
    ),
    ("az-ceasefire-no-party", "atəşkəs rejimi", {}),
    ("az-prisoners", "əsirlərin mübadiləsi", {"prisoners": ["əsirlərin"]}),
    ("az-baku-only", "Bakıda hava yağışlıdır", {}),
    # --- Russian ---------------------------------------------------------------------------
    ("ru-locative", "в Нагорном Карабахе", {"karabakh": ["Карабахе"]}),
    ("ru-stepanakert-case", "обстрел Степанакерта", {"karabakh": ["Степанакерта"]}),
    ("ru-upper", "АРЦАХ", {"karabakh": ["АРЦАХ"]}),
    ("ru-adjective", "карабахский конфликт", {"karabakh": ["карабахский"]}),
    ("ru-yo", "Карабаха ещё нет", {"karabakh": ["Карабаха"]}),
    (
        "ru-phrase",
        "Армения нарушила режим прекращения огня",
        {"ceasefire": ["Армения", "прекращения огня"]},
    ),
    (
        "ru-truce",
        "перемирие в Карабахе",
        {"karabakh": ["Карабахе"], "ceasefire": ["перемирие", "Карабахе"]},
    ),
    ("ru-prisoners", "обмен военнопленными", {"prisoners": ["военнопленными"]}),
    ("ru-other-city", "Погода в Москве", {}),
    # issue 7: one term with "*" inside the phrase finds every case of it
    (
        "ru-phrase-inflected",
        "Армения за прекращение огня",
        {"ceasefire": ["Армения", "прекращение огня"]},
    ),
    (
        "ru-phrase-dative",
        "призыв к прекращению огня в Карабахе",
        {"karabakh": ["Карабахе"], "ceasefire": ["прекращению огня", "Карабахе"]},
    ),
    ("ru-phrase-other-noun", "Армения: прекращение огнестрельного оружия", {}),
    ("ru-phrase-words-apart", "Армения: прекращение подачи огня", {}),
    ("ru-kiev", "Переговоры в Киеве", {"cities-cyr": ["Киеве"]}),
    ("ru-kiev-from-latin-term", "Киев", {"cities-cyr": ["Киев"]}),
    (
        "ru-zaporozhye",
        "Запорожье под обстрелом",
        {"cities-cyr": ["Запорожье"], "cities-lat": ["Запорожье"]},
    ),
    ("ru-npp", "Обстрел Запорожской АЭС", {"nuclear": ["АЭС"]}),
    ("ru-npp-phrase", "атомной станции", {"nuclear": ["атомной станции"]}),
    # --- Turkish ---------------------------------------------------------------------------
    ("tr-apostrophe", "Karabağ'da son durum", {"karabakh": ["Karabağ"]}),
    ("tr-typographic-apostrophe", "Karabağ’dan haberler", {"karabakh": ["Karabağ"]}),
    ("tr-upper-i", "DAĞLIK KARABAĞ", {"karabakh": ["DAĞLIK KARABAĞ", "KARABAĞ"]}),
    ("tr-no-diacritics", "Daglik Karabag", {"karabakh": ["Daglik Karabag", "Karabag"]}),
    ("tr-karabagli", "Karabağlı göçmenler", {"karabakh": ["Karabağlı"]}),
    ("tr-karabaglar-excluded", "Karabağlar Belediyesi açıklama yaptı", {}),
    ("tr-karabuk", "Karabük'te yağmur", {}),
    (
        "tr-ceasefire",
        "Azerbaycan ateşkese uydu",
        {"ceasefire": ["Azerbaycan", "ateşkese"]},
    ),
    ("tr-ceasefire-syria", "İdlib'de ateşkes", {}),
    ("tr-prisoners", "esirlerin takası", {"prisoners": ["esirlerin"]}),
    ("tr-exclude-fk", "Karabağ FK kazandı", {}),
    # --- Ukrainian (issue 7) ----------------------------------------------------------------
    ("uk-kyiv-from-latin-term", "Київ заявив", {"cities-cyr": ["Київ"], "cities-lat": ["Київ"]}),
    ("uk-kyiv-prefix", "Київська область", {"cities-cyr": ["Київська"]}),
    (
        "uk-zaporizhzhia",
        "Запоріжжя та Одеса",
        {"cities-cyr": ["Запоріжжя", "Одеса"], "cities-lat": ["Запоріжжя", "Одеса"]},
    ),
    ("uk-npp", "обстріл Запорізької АЕС", {"nuclear": ["АЕС"]}),
    ("uk-odesa-other-word", "Одесаліс", {}),
    ("uk-apostrophe", "Знам\u02bcянка", {}),
    ("uk-no-term", "Погода у Львові", {}),
    # --- transliterated cities (issue 7): each script's spelling, never a wider word ----------
    ("en-kyiv", "Kyiv says", {"cities-cyr": ["Kyiv"], "cities-lat": ["Kyiv"]}),
    ("en-kiev", "Kiev says", {"cities-cyr": ["Kiev"]}),
    (
        "en-zaporizhzhia-odesa",
        "Zaporizhzhia and Odesa",
        {"cities-cyr": ["Zaporizhzhia", "Odesa"], "cities-lat": ["Zaporizhzhia", "Odesa"]},
    ),
    ("en-zaporozhye", "Zaporozhye", {"cities-cyr": ["Zaporozhye"], "cities-lat": ["Zaporozhye"]}),
    # "Киев*" once made "kiev*": a wildcard on a generated spelling widened the English term
    ("en-kievan-rus", "Kievan Rus was a medieval state", {}),
    ("en-kyivstar", "Kyivstar restores mobile service", {}),
    # "АЭС" once made "aes": a Cyrillic acronym spelled in Latin is another acronym
    ("en-aes-corp", "AES Corp signs energy deal", {}),
    ("en-aes-upper", "AES ENERGY", {}),
    (
        "en-npp",
        "Zaporizhzhia NPP",
        {"cities-cyr": ["Zaporizhzhia"], "cities-lat": ["Zaporizhzhia"], "nuclear": ["NPP"]},
    ),
    # --- dodges ----------------------------------------------------------------------------
    ("dodge-zero-width", "Kara\u200bbakh", {"karabakh": ["Kara\u200bbakh"]}),
    ("dodge-soft-hyphen", "Stepa\u00adnakert", {"karabakh": ["Stepa\u00adnakert"]}),
    ("dodge-latin-a-in-cyrillic", "Кaрабах", {"karabakh": ["Кaрабах"]}),
    ("dodge-cyrillic-a-in-latin", "Kаrabakh", {"karabakh": ["Kаrabakh"]}),
    ("dodge-bidi", "\u202eArtsakh\u202c", {"karabakh": ["Artsakh"]}),
    ("dodge-fullwidth", "Ａｒｔｓａｋｈ", {"karabakh": ["Ａｒｔｓａｋｈ"]}),
    ("dodge-combining-accent", "Stepanake\u0301rt", {"karabakh": ["Stepanake\u0301rt"]}),
    # --- links, mentions, hashtags ---------------------------------------------------------
    ("url-with-term", "Read more: https://www.artsakh.am/karabakh/news", {}),
    ("bare-host-with-term", "karabakh.info/en/news", {}),
    ("mention-with-term", "@Artsakh_MFA @KarabakhNews", {}),
    ("hashtag", "#Artsakh #Карабах", {"karabakh": ["Artsakh", "Карабах"]}),
    # issue 7: a CamelCase hashtag is the words it joins
    ("hashtag-compound-prefix", "#KarabağAzerbaycandır", {"karabakh": ["KarabağAzerbaycandır"]}),
    ("hashtag-camel-case", "#ArtsakhStrong", {"karabakh": ["Artsakh"]}),
    ("hashtag-camel-case-last", "#StandWithArtsakh", {"karabakh": ["Artsakh"]}),
    ("hashtag-camel-case-phrase", "#LineOfContact", {"karabakh": ["LineOfContact"]}),
    ("hashtag-acronym-then-word", "#FreeArmenianPOWs", {"prisoners": ["POWs"]}),
    ("hashtag-digits", "#Artsakh2020", {"karabakh": ["Artsakh"]}),
    ("hashtag-cyrillic-camel-case", "#СвободуАрцаху", {"karabakh": ["Арцаху"]}),
    ("hashtag-one-word", "#artsakhstrong", {}),
    # ... and still the word it is: a name written in CamelCase, or a dodge in odd capitals
    ("hashtag-camel-case-name", "#DiCarlo in Baku", {"names": ["DiCarlo"]}),
    ("hashtag-odd-capitals", "#КарабаХ", {"karabakh": ["КарабаХ"]}),
    ("hashtag-all-capitals", "#ARTSAKHSTRONG", {}),
    ("camel-case-outside-hashtag", "ArtsakhStrong", {}),
    ("camel-case-in-link-fragment", "https://example.org/page#ArtsakhStrong", {}),
    # --- transliterated names --------------------------------------------------------------
    ("translit-latin", "Pashinyan met Aliyev", {"names": ["Pashinyan", "Aliyev"]}),
    ("translit-azerbaijani", "Paşinyan ilə görüş", {"names": ["Paşinyan"]}),
    ("translit-cyrillic", "Шуша освобождена", {"names": ["Шуша"]}),
    ("translit-inflected", "Пашиняну позвонили", {"names": ["Пашиняну"]}),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_statement(text: str, expected: Expected) -> None:
    matches = MATCHER.match("", text)
    got = {m.topic_id: [t.found for t in m.terms] for m in matches}
    assert got == expected
    full = f"\n{text}"
    for m in matches:
        for t in m.terms:
            assert full[t.start : t.end] == t.found


def test_the_table_is_big_and_balanced() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)
    negatives = [c for c in CASES if not c[2]]
    assert len(negatives) >= 15
    for lang in ("en", "hy", "az", "ru", "tr"):
        assert sum(c[0].startswith(lang + "-") for c in CASES) >= 7
