import pytest

from nlpguard.text.normalize import NORMALIZER_VERSION, normalize, normalize_text


@pytest.mark.parametrize("original, expected", [
    ("ＴＸＬ　通訊錄", "通讯录 通讯录"),                    # full-width initials recovered, traditional
    ("你這個老賴，臉都不要了", "你这个老赖,脸都不要了"),
    ("爆\u200b通\u200c讯\ufeff录", "爆通讯录"),                # zero-width characters
    ("通 讯 录 里 的 人", "通讯录里的人"),                    # inter-character spaces
    ("通*讯*录", "通讯录"),                                 # filler symbols between characters
    ("NMSL 你等着", "你妈死了 你等着"),                      # case folding, then initials recovered
    ("OK 明天见 Bye", "ok 明天见 bye"),                       # Latin case folding, space kept next to Latin
    ("还钱😡😡 好吗", "还钱😡😡 好吗"),                        # emoji kept as they are
    ("  首尾空白  ", "首尾空白"),
    ("第1.2条 本协议", "第1.2条本协议"),                      # dots between digits are not fillers
])
def test_normalised_text(original, expected):
    assert normalize_text(original) == expected


@pytest.mark.parametrize("original", [
    "ＴＸＬ　通訊錄 爆\u200b光", "你這個老賴😡，臉都不要了", "通 讯 录 ①② ＡＢＣ ﬁ", "", "   ", "a\u0301é",
])
def test_every_normalised_character_maps_back_into_the_original(original):
    result = normalize(original)
    assert len(result.offsets) == len(result.text)
    assert list(result.offsets) == sorted(result.offsets)
    for offset in result.offsets:
        assert 0 <= offset < len(original)


def test_span_maps_to_original_covering_removed_characters():
    original = "快还钱！通 訊 錄里的人都会知道"
    result = normalize(original)
    start = result.text.index("通讯录")
    s, e = result.to_original(start, start + 3)
    assert original[s:e] == "通 訊 錄"


def test_fullwidth_span_maps_to_fullwidth_original():
    original = "你个ＳＢ"
    result = normalize(original)
    assert result.text == "你个傻逼"
    s, e = result.to_original(2, 4)
    assert original[s:e] == "ＳＢ"


def test_span_outside_text_is_an_error():
    with pytest.raises(ValueError):
        normalize("abc").to_original(2, 9)


def test_models_record_the_normaliser_and_refuse_another(tmp_path):
    import json
    import shutil

    from nlpguard.errors import ModelError
    from nlpguard.runtime.modeldir import PACKAGED_MODELS, read_spec

    packaged = PACKAGED_MODELS / "baseline" / "messages"
    assert read_spec(packaged).normalizer == NORMALIZER_VERSION
    copy = tmp_path / "model"
    shutil.copytree(packaged, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["nlpguard"]["normalizer"] = "norm-1"
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match=f"trained with normaliser norm-1, this nlpguard has {NORMALIZER_VERSION}"):
        read_spec(copy)
