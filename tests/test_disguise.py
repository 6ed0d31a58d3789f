import pytest

from nlpguard.text.disguise import variants
from nlpguard.text.normalize import normalize, normalize_text


@pytest.mark.parametrize("disguised, plain", [
    ("三天不还就bao guang你", "三天不还就曝光你"),          # full pinyin, spaced
    ("发到你的txl", "发到你的通讯录"),                       # initials
    ("tongxunlu里的人都会知道", "通讯录里的人都会知道"),     # pinyin, unspaced
    ("通xun录", "通讯录"),                                   # character/pinyin mix
    ("爆光你全家", "曝光你全家"),                             # homophone
    ("通 迅 录", "通讯录"),                                   # spaced homophone
    ("你个老lai", "你个老赖"),
    ("傻Ｂ一个", "傻逼一个"),                                 # full-width letter
    ("再不还🔪了你", "再不还杀了你"),                         # emoji substitute
    ("cnm，还钱", "操你妈,还钱"),
])
def test_disguises_read_as_the_plain_term(disguised, plain):
    assert normalize_text(disguised) == plain


@pytest.mark.parametrize("text", [
    "this is a simple test", "shadow puppets", "老来得子", "我好开心💀", "天天向上", "bao bao 在家吗", "lj",
    "tong学们好", "明天 jc 见",
])
def test_ordinary_text_is_left_alone(text):
    norm = normalize_text(text)
    assert not any(term in norm for term in ("曝光", "通讯录", "老赖", "傻逼", "杀", "死"))


def test_recovered_term_maps_back_to_the_disguise():
    original = "快还钱！不然 tong xun lu 全部通知"
    result = normalize(original)
    start = result.text.index("通讯录")
    s, e = result.to_original(start, start + 3)
    assert original[s:e] == "tong xun lu"


def test_vocabulary_is_data_and_excludes_ambiguous_forms():
    forms = variants()
    assert forms["txl"] == "通讯录" and forms["baoguang"] == "曝光" and forms["通xun录"] == "通讯录"
    assert "lj" not in forms and "💀" not in forms and "si" not in forms
