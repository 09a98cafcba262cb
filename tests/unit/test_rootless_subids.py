"""The subordinate-ID checker behind R2/R6/R7 catches what makes newuidmap refuse a map."""
from harness.checks.rootless import parse_subid, subid_hazards

DOCUMENTED = "test_user:100000:65536\n"


def test_documented_line_alone_is_fine():
    assert subid_hazards(DOCUMENTED, "test_user") == []


def test_debian_useradd_range_plus_documented_line_is_a_duplicate():
    # Debian's `useradd -m` wrote the first line; the docs' step a appends the second.
    problems = subid_hazards("test_user:100000:65536\n" + DOCUMENTED, "test_user", "/etc/subuid")
    assert len(problems) == 1
    assert "duplicate ranges for the same user" in problems[0]
    assert "line 1" in problems[0] and "line 2" in problems[0] and "100000-165535" in problems[0]


def test_partial_overlap_with_another_user_is_reported():
    text = "alice:165000:65536\n" + DOCUMENTED
    (p,) = subid_hazards(text, "test_user")
    assert "overlapping ranges for alice and test_user" in p and "165000-165535" in p


def test_numeric_owner_counts_as_the_user():
    assert "duplicate" in subid_hazards("1000:100000:65536\n" + DOCUMENTED, "test_user", aliases=("1000",))[0]


def test_adjacent_ranges_do_not_overlap():
    assert subid_hazards("test_user:100000:65536\nbob:165536:65536\n", "test_user") == []


def test_overlaps_between_other_users_are_not_this_users_problem():
    assert subid_hazards(DOCUMENTED + "a:300000:10\nb:300005:10\n", "test_user") == []


def test_too_few_ids_missing_file_and_malformed_lines():
    assert "fewer than 65536" in subid_hazards("test_user:100000:1000\n", "test_user")[0]
    assert "has 0 subordinate IDs" in subid_hazards("", "test_user")[0]
    problems = subid_hazards(DOCUMENTED + "garbage line\n", "test_user")
    assert problems == ["/etc/subuid: malformed line 2: 'garbage line'"]


def test_parse_keeps_line_numbers_and_skips_comments():
    ranges, bad = parse_subid("# c\n\nx:1:2\n")
    assert [(r.owner, r.start, r.count, r.line) for r in ranges] == [("x", 1, 2, 3)] and bad == []
