"""Class 3: awareness as an amplifier, and awareness client ids taken from their owner."""

from __future__ import annotations

import resource

from ..conftest import wait_for
from ..test_rooms import FrameReader
from .lib0 import awareness_frame


async def test_one_frame_naming_100000_client_ids_closes_its_sender_and_reaches_nobody(
    ws_connect, omniforge, witness
):
    await witness.write()
    bystander = FrameReader(await ws_connect("idea:crowd", user="bob"))
    attacker = FrameReader(await ws_connect("idea:crowd", user="mallory"))
    frame = awareness_frame([(i, 1, {"c": 1}) for i in range(1, 100_001)])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await attacker.conn.write_message(frame, binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1008
    assert "more than 4 awareness client ids" in attacker.conn.close_reason
    room = omniforge.room_manager.get("idea:crowd")
    assert len(room.awareness) == 0
    assert bystander.states() == {}
    # A later joiner is not handed anything of it either.
    late = FrameReader(await ws_connect("idea:crowd", user="carol"))
    await late.conn.write_message(awareness_frame([(77, 1, {"here": True})]), binary=True)
    await wait_for(lambda: 77 in bystander.states())
    assert set(late.states()) <= {77}
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 50 * 1024, f"the server grew by {grown_kib} KiB"
    await witness.check()


async def test_a_state_over_8_kib_closes_its_sender(ws_connect, witness):
    await witness.write()
    attacker = FrameReader(await ws_connect("idea:big", user="mallory"))
    await attacker.conn.write_message(awareness_frame([(5, 1, {"x": "y" * 9000})]), binary=True)
    await wait_for(lambda: attacker.closed.is_set())
    assert attacker.conn.close_code == 1008
    assert "larger than the limit of 8192" in attacker.conn.close_reason
    await witness.check()


async def test_four_ids_are_fine_and_a_fifth_over_time_is_not(ws_connect):
    watcher = FrameReader(await ws_connect("idea:ids", user="bob"))
    tabs = FrameReader(await ws_connect("idea:ids", user="alice"))
    for client_id in range(1, 5):
        await tabs.conn.write_message(awareness_frame([(client_id, 1, {"n": 1})]), binary=True)
        # Leaving does not free the slot for yet another id: ids cannot be cycled through.
        await tabs.conn.write_message(awareness_frame([(client_id, 2, None)]), binary=True)
    await wait_for(lambda: 4 in watcher.states())
    await tabs.conn.write_message(awareness_frame([(5, 1, {"n": 1})]), binary=True)
    await wait_for(lambda: tabs.closed.is_set())
    assert tabs.conn.close_code == 1008


async def test_a_client_id_stays_with_its_user_who_gets_it_back_at_once(ws_connect):
    watcher = FrameReader(await ws_connect("idea:mine", user="carol"))
    alice = FrameReader(await ws_connect("idea:mine", user="alice"))
    await alice.conn.write_message(awareness_frame([(4242, 10, {"cursor": 1})]), binary=True)
    await wait_for(lambda: (watcher.states().get(4242) or {}).get("cursor") == 1)
    alice.conn.close()
    await wait_for(lambda: 4242 in watcher.states() and watcher.states()[4242] is None)
    # Mallory claims Alice's client id while she is away: ignored, whatever the clock.
    mallory = FrameReader(await ws_connect("idea:mine", user="mallory"))
    await mallory.conn.write_message(
        awareness_frame([(4242, 10_000, {"cursor": 666, "user": {"name": "alice"}})]),
        binary=True,
    )
    await mallory.conn.write_message(awareness_frame([(9, 1, {"marker": True})]), binary=True)
    await wait_for(lambda: 9 in watcher.states())
    assert watcher.states()[4242] is None
    # Alice reconnects with her old clock (as y-websocket does): she is shown again at once,
    # not after her next renewal, and as herself.
    back = FrameReader(await ws_connect("idea:mine", user="alice"))
    await back.conn.write_message(awareness_frame([(4242, 10, {"cursor": 2})]), binary=True)
    await wait_for(lambda: (watcher.states().get(4242) or {}).get("cursor") == 2)
    assert watcher.states()[4242]["user"]["username"] == "alice"
    assert not mallory.closed.is_set()


async def test_the_same_user_in_a_second_tab_takes_over_its_id(ws_connect):
    watcher = FrameReader(await ws_connect("idea:tabs", user="carol"))
    first = FrameReader(await ws_connect("idea:tabs", user="alice"))
    await first.conn.write_message(awareness_frame([(31, 1, {"tab": 1})]), binary=True)
    await wait_for(lambda: (watcher.states().get(31) or {}).get("tab") == 1)
    second = FrameReader(await ws_connect("idea:tabs", user="alice"))
    # Sending back what it was sent (as y-websocket does) takes nothing over.
    echo = {"tab": 1, "user": watcher.states()[31]["user"]}
    await second.conn.write_message(awareness_frame([(31, 1, echo)]), binary=True)
    # Its own change, past the clock it adopted from the server's state, does.
    await second.conn.write_message(awareness_frame([(31, 2, {"tab": 2})]), binary=True)
    await wait_for(lambda: (watcher.states().get(31) or {}).get("tab") == 2)
    # The first tab closing does not remove what the second one now holds.
    first.conn.close()
    await second.conn.write_message(awareness_frame([(32, 1, {"marker": 1})]), binary=True)
    await wait_for(lambda: 32 in watcher.states())
    assert (watcher.states().get(31) or {}).get("tab") == 2


async def test_an_echo_from_another_connection_of_the_user_takes_nothing_over(ws_connect):
    # A stock y-websocket client sends back every state it hears; two of one user's
    # connections took an id from each other for ever (1008 "more than 500 messages/s").
    watcher = FrameReader(await ws_connect("idea:echo", user="carol"))
    first = FrameReader(await ws_connect("idea:echo", user="alice"))
    await first.conn.write_message(awareness_frame([(41, 1, {"tab": 1})]), binary=True)
    await wait_for(lambda: (watcher.states().get(41) or {}).get("tab") == 1)
    second = FrameReader(await ws_connect("idea:echo", user="alice"))
    echo = {"tab": 1, "user": watcher.states()[41]["user"]}
    await second.conn.write_message(awareness_frame([(41, 1, echo)]), binary=True)
    await second.conn.write_message(awareness_frame([(42, 1, {"marker": 1})]), binary=True)
    await wait_for(lambda: 42 in watcher.states())
    first.conn.close()  # still the owner: its state leaves with it
    await wait_for(lambda: 41 in watcher.states() and watcher.states()[41] is None)
    assert not second.closed.is_set()
