"""Staff tokens (ticketgate.staff.token): signed, compact, case-proof, and nothing else verifies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ticketgate.staff.token import (
    MAX_NUMBER,
    Intent,
    Keyring,
    StaffKey,
    TokenProblem,
    TokenTooLong,
    carries_token,
    mint,
    new_notification_number,
    notification_message_id,
    reply_address,
    token_from_address,
    token_from_message_id,
    verify,
)

NOW = datetime(2025, 6, 3, 10, 0, tzinfo=UTC)
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
RING = Keyring((StaffKey(1, b"k" * 32),))
ANNA = "anna.andersson@example.org"

numbers = st.integers(min_value=0, max_value=MAX_NUMBER)
small_numbers = st.integers(min_value=0, max_value=10**7)
secrets_ = st.binary(min_size=32, max_size=64)
intents = st.sampled_from(list(Intent))
addresses = st.builds(
    lambda local, domain: f"{local}@{domain}.example",
    st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=20),
    st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
)
key_ids = st.integers(min_value=0, max_value=31)


def ring_of(secret: bytes, key_id: int = 1) -> Keyring:
    return Keyring((StaffKey(key_id, secret),))


def anna_token(ticket: int = 12, intent: Intent = Intent.REPLY, ring: Keyring = RING) -> str:
    return mint(ring, ticket=ticket, staff=ANNA, intent=intent, notification=987654321)


# --- round trip ---------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(secret=secrets_, key_id=key_ids, ticket=numbers, notification=numbers, intent=intents,
       staff=addresses)
def test_every_token_verifies_for_what_it_was_made_for(
        secret: bytes, key_id: int, ticket: int, notification: int, intent: Intent,
        staff: str) -> None:
    ring = ring_of(secret, key_id)
    token = mint(ring, ticket=ticket, staff=staff, intent=intent, notification=notification)
    assert 29 <= len(token) <= 55 and set(token) <= set(ALPHABET)
    assert token[0] == ALPHABET[key_id]  # the first character reads as the key id
    checked = verify(token, staff=staff, keyring=ring, now=NOW, ticket=ticket)
    assert checked.ok and checked.problem is None and checked.explanation == ""
    assert checked.token is not None
    assert (checked.token.ticket, checked.token.staff, checked.token.intent,
            checked.token.notification, checked.token.key_id) == (
        ticket, staff.lower(), intent, notification, key_id)


@settings(max_examples=200, deadline=None)
@given(secret=secrets_, ticket=small_numbers, intent=intents, staff=addresses)
def test_case_folded_tokens_and_addresses_still_verify(
        secret: bytes, ticket: int, intent: Intent, staff: str) -> None:
    ring = ring_of(secret)
    token = mint(ring, ticket=ticket, staff=staff, intent=intent,
                 notification=new_notification_number())
    address = reply_address("Helpdesk@Example.org", token)
    # an MTA that upper-cases (or lower-cases) the whole address, a user who retypes it
    for seen in (address.upper(), address.lower(), address.swapcase()):
        found = token_from_address(seen, ["helpdesk@example.org"])
        assert found == token
        assert verify(found, staff=staff.upper(), keyring=ring, now=NOW).ok
    assert verify(token.upper(), staff=staff, keyring=ring, now=NOW).ok


# --- tampering ------------------------------------------------------------------------------------

@settings(max_examples=500, deadline=None)
@given(secret=secrets_, ticket=small_numbers, notification=numbers, intent=intents,
       staff=addresses, data=st.data())
def test_any_changed_character_fails(secret: bytes, ticket: int, notification: int,
                                     intent: Intent, staff: str, data: st.DataObject) -> None:
    ring = ring_of(secret)
    token = mint(ring, ticket=ticket, staff=staff, intent=intent, notification=notification)
    at = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    other = data.draw(st.sampled_from(ALPHABET.replace(token[at], "")))
    tampered = token[:at] + other + token[at + 1:]
    assert not verify(tampered, staff=staff, keyring=ring, now=NOW).ok


@settings(max_examples=200, deadline=None)
@given(token_text=st.text(ALPHABET, min_size=0, max_size=70))
def test_made_up_tokens_never_verify(token_text: str) -> None:
    assume(token_text != anna_token())
    assert not verify(token_text, staff=ANNA, keyring=RING, now=NOW).ok


def _bytes(token: str) -> bytearray:
    return bytearray(base64.b32decode(token.upper() + "=" * (-len(token) % 8)))


def _text(data: bytes) -> str:
    return base64.b32encode(bytes(data)).decode().rstrip("=").lower()


def test_a_swapped_ticket_number_fails_even_with_the_signature_kept() -> None:
    token = anna_token(ticket=12)
    data = _bytes(token)
    assert data[1] == 12  # the ticket's varint follows the header byte
    data[1] = 13
    checked = verify(_text(data), staff=ANNA, keyring=RING, now=NOW)
    assert checked.problem is TokenProblem.BAD_SIGNATURE and checked.token is None


def test_a_swapped_intent_fails_even_with_the_signature_kept() -> None:
    token = anna_token(intent=Intent.NOTE)
    data = _bytes(token)
    data[0] ^= 1  # note -> reply
    assert verify(_text(data), staff=ANNA, keyring=RING, now=NOW).problem is (
        TokenProblem.BAD_SIGNATURE)
    assert verify(token, staff=ANNA, keyring=RING, now=NOW).token.intent is Intent.NOTE  # type: ignore[union-attr]


def test_another_staff_members_token_fails_with_that_reason() -> None:
    checked = verify(anna_token(), staff="kim.kollega@example.org", keyring=RING, now=NOW)
    assert checked.problem is TokenProblem.OTHER_STAFF and not checked.ok
    assert "another staff member" in checked.explanation


@settings(max_examples=200, deadline=None)
@given(secret=secrets_, other=secrets_, ticket=small_numbers, intent=intents, staff=addresses)
def test_another_secret_fails(secret: bytes, other: bytes, ticket: int, intent: Intent,
                              staff: str) -> None:
    assume(secret != other)
    token = mint(ring_of(secret), ticket=ticket, staff=staff, intent=intent, notification=1)
    assert not verify(token, staff=staff, keyring=ring_of(other), now=NOW).ok


@settings(max_examples=200, deadline=None)
@given(ticket=small_numbers, other=small_numbers, staff=addresses, stranger=addresses)
def test_swapped_ticket_and_other_staff_always_fail(ticket: int, other: int, staff: str,
                                                    stranger: str) -> None:
    token = mint(RING, ticket=ticket, staff=staff, intent=Intent.REPLY, notification=5)
    if other != ticket:
        wrong = verify(token, staff=staff, keyring=RING, now=NOW, ticket=other)
        assert wrong.problem is TokenProblem.OTHER_TICKET
        assert wrong.token is not None and wrong.token.ticket == ticket  # named for the mail
    if stranger.lower() != staff.lower():
        assert not verify(token, staff=stranger, keyring=RING, now=NOW).ok


def test_a_staff_member_may_answer_from_another_of_their_addresses() -> None:
    token = anna_token()
    assert not verify(token, staff="anna@private.example", keyring=RING, now=NOW).ok
    checked = verify(token, staff=["anna@private.example", "Anna.Andersson@Example.org"],
                     keyring=RING, now=NOW)
    assert checked.ok and checked.token is not None and checked.token.staff == ANNA


def test_non_canonical_spellings_of_the_same_bytes_do_not_verify() -> None:
    # 23 bytes leave 1 spare bit in the last character: flipping it gives the same bytes
    token = anna_token()
    assert (len(token) * 5) % 8 != 0
    last = ALPHABET.index(token[-1])
    spare = ALPHABET[last ^ 1]
    twin = token[:-1] + spare
    assert _bytes(twin) == _bytes(token)
    assert verify(twin, staff=ANNA, keyring=RING, now=NOW).problem is TokenProblem.MALFORMED


@pytest.mark.parametrize("text", ["", "hello", "a" * 29, "0" * 37, "bmaq-cdyx", " " * 40])
def test_malformed_tokens_say_so(text: str) -> None:
    assert verify(text, staff=ANNA, keyring=RING, now=NOW).problem is TokenProblem.MALFORMED


# --- keys and rotation ----------------------------------------------------------------------------

def test_an_unknown_key_id_is_refused_and_a_rotated_key_verifies_until_its_end() -> None:
    old = StaffKey(1, b"o" * 32)
    token = anna_token(ring=Keyring((old,)))
    assert verify(token, staff=ANNA, keyring=Keyring((StaffKey(2, b"n" * 32),)),
                  now=NOW).problem is TokenProblem.UNKNOWN_KEY
    rotated = Keyring((StaffKey(2, b"n" * 32), StaffKey(1, b"o" * 32, until=NOW)))
    assert verify(token, staff=ANNA, keyring=rotated, now=NOW).ok
    late = verify(token, staff=ANNA, keyring=rotated, now=NOW + timedelta(seconds=1))
    assert late.problem is TokenProblem.EXPIRED_KEY
    fresh = anna_token(ring=rotated)
    assert fresh[0] == "c" and verify(fresh, staff=ANNA, keyring=rotated, now=NOW).ok


@pytest.mark.parametrize(("keys", "words"), [
    ((), "at least one key"),
    ((StaffKey(1, b"x" * 31),), "at least 32"),
    ((StaffKey(32, b"x" * 32),), "not in 0-31"),
    ((StaffKey(1, b"x" * 32), StaffKey(1, b"y" * 32)), "repeat"),
    ((StaffKey(1, b"x" * 32, until=NOW),), "first key"),
])
def test_a_keyring_refuses_what_would_weaken_it(keys: tuple[StaffKey, ...], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Keyring(keys)


def test_secrets_do_not_show_in_repr() -> None:
    assert "kkkk" not in repr(RING) and "secret" not in repr(RING.current)


@pytest.mark.parametrize("number", [-1, MAX_NUMBER + 1])
def test_numbers_out_of_range_are_refused(number: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        mint(RING, ticket=number, staff=ANNA, intent=Intent.REPLY, notification=1)
    with pytest.raises(ValueError, match="out of range"):
        mint(RING, ticket=1, staff=ANNA, intent=Intent.REPLY, notification=number)


# --- where tokens travel --------------------------------------------------------------------------

def test_the_reply_address_fits_a_local_part_for_usual_numbers_and_the_largest() -> None:
    usual = mint(RING, ticket=123456, staff=ANNA, intent=Intent.NOTE,
                 notification=new_notification_number())
    address = reply_address("helpdesk@example.org", usual)
    assert address == f"helpdesk+{usual}@example.org"
    assert len(address.split("@")[0]) <= 49
    largest = mint(RING, ticket=MAX_NUMBER, staff=ANNA, intent=Intent.NOTE,
                   notification=MAX_NUMBER)
    assert len(largest) == 55
    assert len(reply_address("helpdesk@example.org", largest).split("@")[0]) <= 64
    assert reply_address("helpdesk+urgent@example.org", usual) == address  # detail replaced
    with pytest.raises(TokenTooLong, match="64 octets"):
        reply_address("it-helpdesk-stockholm@example.org", largest)
    with pytest.raises(ValueError, match="not an address"):
        reply_address("helpdesk", usual)


def test_tokens_are_found_only_in_sub_addresses_of_our_function_addresses() -> None:
    token = anna_token()
    ours = ["helpdesk@example.org", "support@example.org"]
    assert token_from_address(f"<helpdesk+{token}@example.org>", ours) == token
    assert token_from_address(f"support+{token}@EXAMPLE.ORG", ours) == token
    assert token_from_address(f"helpdesk+{token}@example.com", ours) is None
    assert token_from_address(f"lukortet+{token}@example.org", ours) is None
    assert token_from_address("helpdesk+urgent@example.org", ours) is None
    assert token_from_address("helpdesk@example.org", ours) is None
    assert token_from_address(token, ours) is None


def test_texts_that_carry_a_token_are_recognised() -> None:
    token = anna_token()
    assert carries_token(f"From: Helpdesk <HELPDESK+{token.upper()}@example.org>")
    assert carries_token(f"see <tg.12.notify.{token}@gate.example.org>")
    assert not carries_token(f"the code is {token} and helpdesk+urgent@example.org")
    assert not carries_token("Hi Kim, fixed.\n\nAnna")


def test_the_notification_message_id_carries_the_token() -> None:
    token = anna_token()
    mid = notification_message_id(token, ticket=12, instance="gate.example.org")
    assert mid == f"tg.12.notify.{token}@gate.example.org"
    assert token_from_message_id(f"<{mid}>", "gate.example.org") == token
    assert token_from_message_id(mid.upper(), "gate.example.org") == token
    assert token_from_message_id(mid, "other.example.org") is None
    # our other Message-IDs and anyone else's carry no token
    assert token_from_message_id("tg.12.notify.0123456789abcdef@gate.example.org",
                                 "gate.example.org") is None
    assert token_from_message_id("tg.12@gate.example.org", "gate.example.org") is None
    assert token_from_message_id(f"{token}@gate.example.org", "gate.example.org") is None


def test_minting_is_deterministic_and_notification_numbers_differ() -> None:
    assert anna_token() == anna_token()
    numbers = {new_notification_number() for _ in range(100)}
    assert len(numbers) == 100 and all(0 <= n < 2**40 for n in numbers)
