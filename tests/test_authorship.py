"""Who wrote what, what changed, and a restore that moves forward: the pure side of version
history (issue 17), on real pycrdt documents edited by separate clients that sync."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from jupyter_omniforge.errors import ValidationError
from jupyter_omniforge.history import authorship
from jupyter_omniforge.history.authorship import InvalidHistory


class Peers:
    """Clients with their own pycrdt Doc, each edit sent to the others as it happens; the
    log holds ``(author, update)`` in the order the server would have received them."""

    def __init__(self, *authors: str) -> None:
        self.docs = {author: Doc() for author in authors}
        self.log: list[tuple[str, bytes]] = []

    def text(self, author: str, root: str = "code") -> Text:
        return self.docs[author].get(root, type=Text)

    def edit(self, author: str, change) -> None:
        doc = self.docs[author]
        before = doc.get_state()
        change(doc)
        update = doc.get_update(before)
        self.log.append((author, update))
        for other, peer in self.docs.items():
            if other != author:
                peer.apply_update(update)

    def insert(self, author: str, index: int, value: str, root: str = "code") -> None:
        """Insert at a character index (pycrdt counts UTF-8 bytes: see the module doc)."""
        text = str(self.text(author, root))
        at = len(text[:index].encode())
        self.edit(author, lambda doc: doc.get(root, type=Text).insert(at, value))

    def delete(self, author: str, start: int, end: int, root: str = "code") -> None:
        text = str(self.text(author, root))
        lo, hi = len(text[:start].encode()), len(text[:end].encode())
        self.edit(author, lambda doc: doc.get(root, type=Text).__delitem__(slice(lo, hi)))


def written_by(blame: dict) -> list[tuple[str, str]]:
    """(author, text) of each blamed range."""
    return [(r["author"], blame["text"][r["start"] : r["end"]]) for r in blame["ranges"]]


def test_three_authors_typing_interleaved_are_each_credited_with_their_words():
    peers = Peers("ada", "bob", "cy")
    peers.insert("ada", 0, "hello world")
    peers.insert("bob", 5, ", dear")  # hello, dear world
    peers.insert("cy", 0, ">> ")
    peers.insert("ada", len(str(peers.text("ada"))), "!")
    state, runs = authorship.replay(b"", {}, peers.log)
    blame = authorship.blame(state, runs, "code")
    assert blame["text"] == ">> hello, dear world!"
    assert written_by(blame) == [
        ("cy", ">> "),
        ("ada", "hello"),
        ("bob", ", dear"),
        ("ada", " world!"),
    ]


def test_replay_continues_from_a_state_and_its_runs():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "first ")
    peers.insert("bob", 6, "second")
    state, runs = authorship.replay(b"", {}, peers.log[:1])
    state, runs = authorship.replay(state, runs, peers.log[1:])
    assert runs == {"code": [[6, "ada"], [6, "bob"]]}
    assert authorship.blame(state, runs, "code")["text"] == "first second"


def test_a_delete_across_author_boundaries_removes_from_both():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "aaaa")
    peers.insert("bob", 4, "bbbb")
    peers.insert("ada", 8, "AAAA")
    peers.delete("bob", 2, 10)  # aa|aabbbbAA|AA
    state, runs = authorship.replay(b"", {}, peers.log)
    assert written_by(authorship.blame(state, runs, "code")) == [("ada", "aaAA")]
    assert runs == {"code": [[4, "ada"]]}


def test_non_ascii_and_emoji_runs_count_python_characters():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "héllo 😀 wörld")
    peers.insert("bob", 7, "🎉é")  # right after the emoji
    peers.delete("ada", 1, 2)  # the é
    state, runs = authorship.replay(b"", {}, peers.log)
    blame = authorship.blame(state, runs, "code")
    assert blame["text"] == "hllo 😀🎉é wörld"
    assert sum(n for n, _ in runs["code"]) == len(blame["text"])
    assert written_by(blame) == [("ada", "hllo 😀"), ("bob", "🎉é"), ("ada", " wörld")]


def test_a_root_appearing_late_is_followed_from_its_first_update():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "code first")
    state, runs = authorship.replay(b"", {}, peers.log)
    peers.log.clear()
    peers.insert("bob", 0, "ideas later", root="ideas")
    peers.insert("ada", 5, "!", root="ideas")
    state, runs = authorship.replay(state, runs, peers.log)
    assert written_by(authorship.blame(state, runs, "ideas")) == [
        ("bob", "ideas"),
        ("ada", "!"),
        ("bob", " later"),
    ]
    assert runs["code"] == [[10, "ada"]]


def test_runs_that_do_not_fit_become_one_unknown_run():
    peers = Peers("ada")
    peers.insert("ada", 0, "twelve chars")
    state, _ = authorship.replay(b"", {}, peers.log)
    for hostile in (
        {"code": [[99, "ada"]]},
        {"code": [[-1, "x"], [13, "y"]]},
        {"code": [["12", "ada"]]},
        {"code": [[float("nan"), "ada"]]},
        {"code": "not runs"},
        {"code": [[12, 7]]},
        ["not", "a", "dict"],
    ):
        _, runs = authorship.replay(state, hostile, [])
        assert runs == {"code": [[12, ""]]}, hostile
        blame = authorship.blame(state, hostile, "code")
        assert blame["ranges"] == [{"start": 0, "end": 12, "author": ""}]
    peers.insert("ada", 0, "new ")
    _, runs = authorship.replay(state, {"code": [[1, "x"]]}, peers.log[-1:])
    assert runs == {"code": [[4, "ada"], [12, ""]]}


@pytest.mark.parametrize(
    "garbage", [b"\x00", b"garbage!", b"\xff" * 40, b"\x01\x01\x01\x01\x04\x01\x01a"]
)
def test_garbage_bytes_raise_a_validation_error(garbage):
    with pytest.raises(InvalidHistory) as caught:
        authorship.replay(garbage, {}, [])
    assert isinstance(caught.value, ValidationError) and caught.value.http_status == 400
    with pytest.raises(InvalidHistory):
        authorship.replay(b"", {}, [("ada", garbage)])
    with pytest.raises(InvalidHistory):
        authorship.blame(garbage, {}, "code")
    with pytest.raises(InvalidHistory):
        authorship.diff(b"", {}, garbage, {})
    with pytest.raises(InvalidHistory):
        authorship.forward_changes(Doc(), garbage)


def test_blame_of_an_absent_root_is_empty_and_of_a_map_is_refused():
    doc = Doc()
    doc.get("tokens", type=Map)["color"] = "red"
    state = doc.get_update()
    assert authorship.blame(state, {}, "code") == {"root": "code", "text": "", "ranges": []}
    with pytest.raises(InvalidHistory, match="map, not a text"):
        authorship.blame(state, {}, "tokens")


def test_diff_reports_text_with_authors_and_map_and_array_changes():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "line one\nline two\n")

    def structure(doc):
        doc.get("tokens", type=Map).update({"color": "red", "size": 1, "gone": True})
        doc.get("components", type=Array).extend(["a", "b", {"c": 1}])

    peers.edit("ada", structure)
    old_state, old_runs = authorship.replay(b"", {}, peers.log)
    peers.delete("bob", 5, 8)  # "one" written by ada
    peers.insert("bob", 5, "1st")

    def change(doc):
        tokens = doc.get("tokens", type=Map)
        tokens["color"] = "blue"
        tokens["new"] = [1, 2]
        del tokens["gone"]
        components = doc.get("components", type=Array)
        del components[1]
        components.append("d")

    peers.edit("bob", change)
    new_state, new_runs = authorship.replay(old_state, old_runs, peers.log[2:])
    roots = authorship.diff(old_state, old_runs, new_state, new_runs)["roots"]
    code = roots["code"]
    assert code["type"] == "text"
    assert "-line one" in code["unified"] and "+line 1st" in code["unified"]
    assert [(d["text"], d["author"]) for d in code["deleted"]] == [("one", "ada")]
    assert [(i["text"], i["author"], i["start"]) for i in code["inserted"]] == [("1st", "bob", 5)]
    assert roots["tokens"] == {
        "type": "map",
        "added": {"new": [1.0, 2.0]},
        "removed": {"gone": True},
        "changed": {"color": {"from": "red", "to": "blue"}},
    }
    assert roots["components"] == {
        "type": "array",
        "added": [{"index": 2, "value": "d"}],
        "removed": [{"index": 1, "value": "b"}],
    }


def test_diff_splits_inserts_where_the_author_changes_and_reports_roots_on_one_side():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "base")
    old_state, old_runs = authorship.replay(b"", {}, peers.log)
    peers.insert("ada", 4, " ada")
    peers.insert("bob", 8, " bob")
    peers.edit("bob", lambda doc: doc.get("tokens", type=Map).update({"k": "v"}))
    new_state, new_runs = authorship.replay(old_state, old_runs, peers.log[1:])
    roots = authorship.diff(old_state, old_runs, new_state, new_runs)["roots"]
    assert [(i["text"], i["author"]) for i in roots["code"]["inserted"]] == [
        (" ada", "ada"),
        (" bob", "bob"),
    ]
    assert roots["tokens"]["added"] == {"k": "v"}
    back = authorship.diff(new_state, new_runs, old_state, old_runs)["roots"]
    assert back["tokens"]["removed"] == {"k": "v"}
    assert [(d["text"], d["author"]) for d in back["code"]["deleted"]] == [
        (" ada", "ada"),
        (" bob", "bob"),
    ]


def test_a_root_whose_type_changed_is_removed_and_added_whole():
    old, new = Doc(), Doc()
    old.get("x", type=Text).insert(0, "text")
    new.get("x", type=Map)["k"] = "v"
    roots = authorship.diff(old.get_update(), {}, new.get_update(), {})["roots"]
    assert roots["x"] == {
        "type": "replaced",
        "from": "text",
        "to": "map",
        "removed": "text",
        "added": {"k": "v"},
    }


def _content(doc: Doc) -> dict:
    state = doc.get_update()
    types = authorship.root_types(state)
    copy = Doc()
    copy.apply_update(state)
    out = {}
    for name, kind in types.items():
        if kind == "text":
            out[name] = str(copy.get(name, type=Text))
        elif kind == "map":
            out[name] = copy.get(name, type=Map).to_py()
        elif kind == "array":
            out[name] = copy.get(name, type=Array).to_py()
    return {k: v for k, v in out.items() if v not in ("", {}, [])}


def test_forward_changes_restores_while_a_concurrent_edit_survives():
    peers = Peers("ada", "bob")
    peers.insert("ada", 0, "def f():\n    return 1\n\n# tail\n")

    def tokens(doc):
        doc.get("tokens", type=Map).update({"color": "red"})
        doc.get("components", type=Array).extend(["a", {"b": [1, 2]}])

    peers.edit("ada", tokens)
    version = peers.docs["ada"].get_update()
    peers.delete("ada", 13, 21)  # "return 1"
    peers.insert("ada", 13, "raise Oops")

    def later(doc):
        doc.get("tokens", type=Map).update({"color": "blue", "extra": 1})
        doc.get("components", type=Array).append("c")
        doc.get("ideas", type=Text).insert(0, "an idea")

    peers.edit("ada", later)
    server, bob = peers.docs["ada"], peers.docs["bob"]
    before_restore = server.get_state()
    with server.transaction():
        authorship.forward_changes(server, version)
    restore = server.get_update(before_restore)
    # Meanwhile bob, who has not seen the restore, types in the tail.
    before_bob = bob.get_state()
    bob.get("code", type=Text).insert(len(str(bob.get("code", type=Text)).encode()), "# bob\n")
    concurrent = bob.get_update(before_bob)
    third = Doc()
    third.apply_update(server.get_update())
    third.apply_update(concurrent)
    assert str(server.get("code", type=Text)) == "def f():\n    return 1\n\n# tail\n"
    assert _content(third) == {
        "code": "def f():\n    return 1\n\n# tail\n# bob\n",
        "tokens": {"color": "red"},
        "components": ["a", {"b": [1.0, 2.0]}],
    }
    bob.apply_update(restore)
    assert _content(bob) == _content(third)


def test_forward_changes_to_an_empty_state_empties_every_root():
    doc = Doc()
    doc.get("code", type=Text).insert(0, "x😀y")
    doc.get("tokens", type=Map)["a"] = 1
    doc.get("items", type=Array).append(1)
    with doc.transaction():
        authorship.forward_changes(doc, b"")
    assert _content(doc) == {}


# -- property: any edits by any authors --------------------------------------------------------

ALPHABET = st.sampled_from([*"ab \n", "é", "😀", "中"])
EDIT = st.tuples(
    st.sampled_from(["ada", "bob", "cy"]),
    st.booleans(),  # insert (else delete)
    st.floats(0, 1),  # where
    st.text(ALPHABET, min_size=1, max_size=6),
    st.integers(1, 5),  # delete length
    st.booleans(),  # sync now (else the edit stays concurrent until the next sync)
)


def _run(edits) -> list[tuple[str, bytes]]:
    """Edits made on each author's own doc; unsynced edits are concurrent with the others'."""
    docs = {a: Doc() for a in ("ada", "bob", "cy")}
    log: list[tuple[str, bytes]] = []
    pending: list[tuple[str, bytes]] = []
    for author, is_insert, where, value, length, sync in edits:
        doc = docs[author]
        text = doc.get("code", type=Text)
        current = str(text)
        at = int(where * len(current))
        before = doc.get_state()
        if is_insert or not current:
            text.insert(len(current[:at].encode()), value)
        else:
            end = min(len(current), at + length)
            lo, hi = len(current[:at].encode()), len(current[:end].encode())
            if lo < hi:
                del text[lo:hi]
        pending.append((author, doc.get_update(before)))
        if sync:
            for who, update in pending:
                log.append((who, update))
                for other, peer in docs.items():
                    if other != who:
                        peer.apply_update(update)
            pending.clear()
    log.extend(pending)
    return log


@settings(
    max_examples=max(10, int(os.environ.get("OMNIFORGE_FUZZ_EXAMPLES", "100")) // 2),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    edits=st.lists(EDIT, min_size=1, max_size=25),
    target_edits=st.lists(EDIT, max_size=10),
    cut=st.integers(0, 25),
)
def test_runs_cover_the_text_and_forward_changes_reach_any_target(edits, target_edits, cut):
    log = _run(edits)
    cut = min(cut, len(log))
    state, runs = authorship.replay(b"", {}, log[:cut])
    state, runs = authorship.replay(state, runs, log[cut:])
    text = authorship.blame(state, runs, "code")["text"]
    assert sum(n for n, _ in runs.get("code", [])) == len(text)
    authors = {who for who, _ in log}
    assert {author for _, author in runs.get("code", [])} <= authors

    target_log = _run(target_edits)
    target_state, _ = authorship.replay(b"", {}, target_log)
    doc = Doc()
    doc.apply_update(state)
    with doc.transaction():
        authorship.forward_changes(doc, target_state)
    assert str(doc.get("code", type=Text)) == authorship.blame(target_state, {}, "code")["text"]
