"""Which rungs of a quality set a source gets, and at what size."""

from transcode.ladder import Rendition, even, plan

ABR_1080P = [
    Rendition("1080p", 1920, 1080, 6000),
    Rendition("720p", 1280, 720, 3000),
    Rendition("480p", 854, 480, 1500),
    Rendition("360p", 640, 360, 800),
]


def sizes(planned):
    return [(p.name, p.width, p.height) for p in planned]


def test_a_1080p_source_gets_the_whole_ladder_tallest_first():
    assert sizes(plan(list(reversed(ABR_1080P)), 1920, 1080)) == [
        ("1080p", 1920, 1080),
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


def test_never_upscale_a_720p_source_yields_720p_and_below():
    assert [p.name for p in plan(ABR_1080P, 1280, 720)] == ["720p", "480p", "360p"]


def test_a_360p_source_yields_nothing_above_360p():
    assert [p.name for p in plan(ABR_1080P, 640, 360)] == ["360p"]


def test_a_source_shorter_than_every_rung_gets_no_rendition():
    assert plan(ABR_1080P, 320, 240) == []


def test_the_source_aspect_ratio_is_kept_in_even_sizes():
    assert sizes(plan(ABR_1080P, 1440, 1080))[1] == ("720p", 960, 720)  # 4:3
    assert sizes(plan([Rendition("240p", 426, 240, 300)], 321, 241)) == [("240p", 320, 240)]
    assert sizes(plan([Rendition("odd", 100, 101, 300)], 640, 360))[0][1:] == (180, 100)


def test_unknown_source_size_gets_no_rendition():
    assert plan(ABR_1080P, 0, 0) == []


def test_even_rounds_to_the_nearest_even_number_at_least_two():
    assert [even(v) for v in (0, 1, 2.9, 3.1, 427, 853.3)] == [2, 2, 2, 4, 428, 854]


def test_renditions_cross_the_worker_config_as_json():
    rung = Rendition("720p", 1280, 720, 3000, 128, 25.0)
    assert Rendition.from_json(rung.to_json()) == rung
