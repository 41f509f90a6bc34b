#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the kept seed corpus, fuzz/corpus/<harness>/, from scratch.

Each seed is an input in its harness's format (see the comment on top of
fuzz/fuzz_*.c): scripts of steps, and raw protocol bytes where a harness
takes them as they come. Valid handshakes are computed here with the fixed
test key and the fixed nonces of fuzz builds (AUTH_FUZZ_NONCE), so that the
fuzzer starts past authentication. Run it again after changing a harness's
input format, and commit the result.
"""
import hashlib
import os
import struct
import sys

KEY_TEXT = b"rcomm fuzzing key: a fixed test key, no secret"
# auth_key_from_text: keyed BLAKE2b-256 of the text under a domain key.
KEY = hashlib.blake2b(KEY_TEXT, digest_size=32, key=b"rcomm job key v1").digest()
FUZZ_NONCE = bytes([0x5A]) * 16  # AUTH_FUZZ_NONCE


def tag(label, claims, nonce_a, nonce_b):
    """auth_tag (src/base/auth.c)."""
    data = bytes([len(label)]) + label + nonce_a + nonce_b + claims
    return hashlib.blake2b(data, digest_size=16, key=KEY).digest()


def u16(v):
    return struct.pack("<H", v)


# ---- fuzz_store --------------------------------------------------------------

KVS_MAGIC, KVS_VERSION = 0x52434B56, 2
HELLO, PUT, GET, MGET, AUTH, MISSING = 1, 2, 3, 4, 5, 6
OK, VALUE, ERROR, CHALLENGE = 16, 17, 18, 19
JOB_SIZE = 4


def kvs(type_, seq, a0=0, a1=0, key=b"", val=b""):
    return struct.pack(">IIIIIII", KVS_MAGIC, KVS_VERSION << 16 | type_, seq, a0, a1,
                       len(key), len(val)) + key + val


def kvs_claims(rank, size):
    return struct.pack(">II", rank, size)


# Server steps: op = kind << 2 | connection.
def s_raw(c, data):
    return bytes([0 << 2 | c]) + u16(len(data)) + data


def s_join(c, b):
    return bytes([1 << 2 | c, b])


ALPHABET = b"ab/0123"


def s_req(c, t, key, a0=0, a1=0, val=None, raw_key=False):
    """A REQUEST step; t indexes the harness's type table (0 PUT, 1 GET,
    2 MGET, 3 MISSING, 7 HELLO, 8 AUTH, 9 OK, 10 VALUE, 11 unknown)."""
    if raw_key:
        t |= 0x80
        kb = key
    else:
        kb = bytes(ALPHABET.index(ch) for ch in key)
    out = bytes([2 << 2 | c, t, len(kb), a0, a1]) + kb
    if (t & 0x1F) % 12 in (0, 4) or t & 0x40:
        out += u16(len(val or b"")) + (val or b"")
    return out


def s_eof(c):
    return bytes([3 << 2 | c])


def raw_join(rank, size, seq=1, nonce=bytes(range(16))):
    """HELLO and AUTH bytes as bootstrap.c sends them (server nonce fixed)."""
    hello = kvs(HELLO, seq, rank, size, val=b"\x01" + nonce)
    t = tag(b"kvs client", kvs_claims(rank, size), nonce, FUZZ_NONCE)
    return hello + kvs(AUTH, seq + 1, val=t)


def store_seeds():
    s = {}
    s["server-join-put-get"] = (b"\x00" + s_join(0, 0) + s_join(1, 1)
                                + s_req(0, 0, b"a/0", val=b"hello")
                                + s_req(1, 1, b"a/0")
                                + s_req(1, 0, b"a/1", val=b"world")
                                + s_req(1, 2, b"a", 0, 4)
                                + s_req(0, 3, b"a"))
    s["server-parked-get"] = (b"\x00" + s_join(0, 0) + s_join(1, 1) + s_join(2, 2)
                              + s_req(1, 1, b"b/2") + s_req(2, 2, b"b", 0, 3)
                              + s_req(0, 0, b"b/2", val=b"x" * 40)
                              + s_req(0, 0, b"b/0", val=b"y" * 40)
                              + s_req(2, 2, b"b", 1, 3))
    s["server-write-once"] = (b"\x00" + s_join(0, 3) + s_req(0, 0, b"b", val=b"one")
                              + s_req(0, 0, b"b", val=b"one")
                              + s_req(0, 0, b"b", val=b"two")
                              + s_req(0, 0, b"b", val=b""))
    s["server-bad-joins"] = (b"\x00" + s_join(0, 5) + s_join(1, 8) + s_join(2, 32)
                             + s_join(0, 16) + s_join(1, 64) + s_req(1, 8, b"")
                             + s_join(2, 1) + s_join(2, 1))
    s["server-dup-rank"] = (b"\x00" + s_join(0, 1) + s_join(1, 1) + s_req(1, 1, b"a"))
    s["server-after-join"] = (b"\x00" + s_join(0, 2) + s_req(0, 7, b"") + s_join(1, 0)
                              + s_req(1, 9, b"") + s_join(2, 3) + s_req(2, 11, b"a"))
    s["server-raw"] = (b"\x00" + s_raw(0, raw_join(0, JOB_SIZE))
                       + s_raw(0, kvs(PUT, 3, key=b"tcp/0", val=b"\x01" * 20))
                       + s_raw(0, kvs(GET, 4, key=b"tcp/0"))
                       + s_raw(0, kvs(MGET, 5, 0, 4, key=b"tcp"))
                       + s_raw(0, kvs(MISSING, 6, key=b"tcp")))
    s["server-raw-split"] = (b"\x00" + s_raw(1, raw_join(1, JOB_SIZE)[:20])
                             + s_raw(1, raw_join(1, JOB_SIZE)[20:])
                             + s_raw(1, kvs(PUT, 3, key=b"x/1", val=b"v")[:30])
                             + s_raw(1, kvs(PUT, 3, key=b"x/1", val=b"v")[30:])
                             + s_eof(1))
    s["server-raw-garbage"] = (b"\x00" + s_raw(0, kvs(PUT, 1, key=b"k", val=b"v"))
                               + s_raw(1, b"GET / HTTP/1.0\r\n\r\n")
                               + s_raw(2, kvs(HELLO, 1, 0, 4, val=b"\x01" * 17)
                                       + kvs(HELLO, 2, 0, 4, val=b"\x01" * 17)))
    s["server-raw-nul-key"] = (b"\x00" + s_join(0, 0)
                               + s_req(0, 0, b"a\x00b", val=b"v", raw_key=True)
                               + s_join(1, 1) + s_req(1, 1, b"%s%n", raw_key=True)
                               + s_req(1, 2 | 0x20, b"a" * 30, 0xff, 3, raw_key=True))
    s["server-eof-mid"] = (b"\x00" + s_join(0, 0)
                           + s_raw(0, kvs(PUT, 3, key=b"k", val=b"abcdef")[:31])
                           + s_eof(0) + s_join(1, 1) + s_eof(1))

    # Client: flags (rank, 0x10 auto CHALLENGE, 0x20 no key), ops, replies.
    def client(flags, ops, replies):
        return (b"\x01" + bytes([flags, len(ops)]) + b"".join(bytes(o) for o in ops)
                + replies)

    def challenge(rank, nonce_s=bytes([0x33]) * 16, flags=1):
        t = tag(b"kvs server", kvs_claims(rank, JOB_SIZE), FUZZ_NONCE, nonce_s)
        return kvs(CHALLENGE, 1, val=bytes([flags]) + nonce_s + t)

    def run(first, vals):
        recs = b"".join(struct.pack(">I", len(v)) + v for v in vals)
        return kvs(VALUE, 0, len(vals), val=recs), first

    # Keys: 0 "k", 1 "tcp/0", 2 "tcp", 3 "addr", 4 "a/b", 5 "x".
    s["client-put-get"] = client(0x10 | 1, [(0, 0, 5), (1, 1, 16), (1, 3, 4)],
                                 kvs(OK, 2) + kvs(OK, 3) + kvs(VALUE, 4, val=b"v" * 16)
                                 + kvs(VALUE, 5, val=b"1234"))
    recs = lambda n, ln: b"".join(struct.pack(">I", ln) + bytes([r]) * ln
                                  for r in range(n))
    s["client-allgather"] = client(0x10 | 2, [(2, 2, 8)],
                                   kvs(OK, 2) + kvs(OK, 3)
                                   + kvs(VALUE, 4, 2, val=recs(2, 8))
                                   + kvs(VALUE, 5, 2, val=recs(2, 8)))
    s["client-barrier"] = client(0x10 | 0, [(3, 5, 0), (3, 5, 0)],
                                 kvs(OK, 2) + kvs(OK, 3) + kvs(VALUE, 4, 4, val=recs(4, 0))
                                 + kvs(OK, 5) + kvs(VALUE, 6, 3, val=recs(3, 0))
                                 + kvs(VALUE, 7, 1, val=recs(1, 0)))
    s["client-errors"] = client(0x10 | 3, [(0, 0, 3), (1, 1, 2), (1, 1, 200), (0, 4, 1)],
                                kvs(OK, 2) + kvs(ERROR, 3, 1, val=b"key 'k' was already")
                                + kvs(VALUE, 4, val=b"toolong")
                                + kvs(VALUE, 4, val=b"late") + kvs(VALUE, 5, val=b"x")
                                + kvs(OK, 9))
    s["client-raw-challenge"] = client(2, [(0, 1, 4)], challenge(2) + kvs(OK, 2)
                                       + kvs(OK, 3))
    s["client-bad-challenge"] = client(1, [], challenge(0) + kvs(OK, 2))
    s["client-no-key"] = client(0x10 | 0x20, [(0, 0, 1)], kvs(OK, 2))
    s["client-hello-error"] = client(0, [], kvs(ERROR, 1, 21, val=b"nope"))
    s["client-bad-run"] = client(0x10 | 1, [(2, 1, 4)],
                                 kvs(OK, 2) + kvs(OK, 3)
                                 + kvs(VALUE, 4, 3, val=recs(3, 4)[:-1]))
    s["client-missing-type"] = client(0x10 | 1, [(1, 0, 8)],
                                      kvs(OK, 2) + kvs(CHALLENGE, 3, val=b"\x00" * 33))
    return s


# ---- fuzz_tcp ------------------------------------------------------------------

TCP_MAGIC, TCP_VERSION = 0x52434D54, 4  # v4: DATA in chunks
DATA_CHUNK = 256 * 1024  # TCP_DATA_CHUNK
(T_HELLO, T_SEND, T_PUT, T_PUT_ACK, T_GET_REQ, T_GET_RESP, T_FADD, T_CSWAP, T_ARESP,
 T_GOODBYE, T_RTS, T_CTS, T_DATA, T_ACK) = range(1, 15)
F_ACK, F_PROOF, F_KEYED = 1, 2, 4


def tcp_hdr(type_, length, flags=0, status=0, detail=0, u=b""):
    return (struct.pack("<IBBHiIQ", TCP_MAGIC, TCP_VERSION, type_, flags, status, detail,
                        length) + u.ljust(40, b"\x00"))


def hello(flags, src, size, dst, credit_kib, status=0, detail=0):
    return tcp_hdr(T_HELLO, 32, flags | F_KEYED, status, detail,
                   struct.pack("<iiiI", src, size, dst, credit_kib))


def tcp_raw_handshakes(credit_kib=512):
    """rank 2's HELLO + PROOF to us, and rank 0's ACK + verdict to our dial."""
    nd = bytes([0x21]) * 16
    claims2 = struct.pack("<iii", 2, 3, 1)
    from2 = (hello(0, 2, 3, 1, credit_kib) + nd + b"\x00" * 16
             + hello(F_PROOF, 2, 3, 1, credit_kib) + b"\x00" * 16
             + tag(b"tcp dialer", claims2, nd, FUZZ_NONCE))
    na = bytes([0x43]) * 16
    claims1 = struct.pack("<iii", 1, 3, 0)
    from0 = (hello(F_ACK, 0, 0, -1, 512) + na
             + tag(b"tcp acceptor", claims1, FUZZ_NONCE, na)
             + hello(F_ACK | F_PROOF, 0, 3, 1, 512) + b"\x00" * 32)
    return from2, from0


# Steps: op = kind << 1 | side (0: rank 0, 1: rank 2), then a tag byte.
def t_step(kind, side, tag_=0):
    return bytes([kind << 1 | side, tag_])


def t_raw(side, data):
    return t_step(0, side) + u16(len(data)) + data


def t_frame(side, type_, length, tag_=0, misc=0, size_extra=None, detail=0, status=0,
            flags=None, rma=None, payload=None):
    out = t_step(1, side) + bytes([type_, misc]) + u16(length) + bytes([tag_])
    if misc & 1:
        out += u16(size_extra)
    out += bytes([detail, status & 0xFF])
    if misc & 2:
        out += bytes([flags])
    if T_PUT <= type_ <= T_ARESP:
        id_, key, off, arg0, arg1 = rma
        out += bytes([id_])
        if misc & 4:
            out += bytes([key])
        out += bytes([off]) if misc & 8 else u16(off)
        out += u16(arg0) + bytes([arg1])
    if misc & 16:  # zeros, from the harness
        return out
    if payload is None:
        payload = bytes(i & 0xFF for i in range(min(length, 4096)))
    return out + payload


def t_recv(side, tag_, slot, cap):
    return t_step(2, side, tag_) + bytes([slot]) + u16(cap)


def t_send(side, tag_, slot, length):
    if length > 0xFFFF:  # a big send (slot bit 7): the length in units of 16
        assert length % 16 == 0
        return t_step(3, side, tag_) + bytes([slot | 0x80]) + u16(length // 16)
    return t_step(3, side, tag_) + bytes([slot]) + u16(length)


def t_rma(side, which, slot, key, length):
    return t_step(4, side, which) + bytes([slot, key]) + u16(length)


def t_simple(kind, side, arg=None):
    return t_step(kind, side) + (bytes([arg]) if arg is not None else b"")


def tcp_seeds():
    s = {}
    hs = b"\x03\x10\x00\x00"  # both handshakes by the harness, credit 256 KiB
    s["eager"] = (hs + t_recv(1, 1, 0, 100) + t_frame(1, T_SEND, 50, 1)
                  + t_frame(1, T_SEND, 9000, 2, misc=16) + t_recv(1, 2, 1, 10000)
                  + t_frame(0, T_SEND, 0, 3) + t_recv(0, 3, 2, 0)
                  + t_recv(0, 1, 3, 10) + t_frame(0, T_SEND, 20, 1)
                  + t_frame(0, T_SEND, 12000, 0, misc=16) + t_recv(0, 0, 4, 12000))
    s["rndv-in"] = (hs + t_frame(1, T_RTS, 100, 0, 1, 2900, detail=7)
                    + t_recv(1, 0, 0, 3000)
                    + t_frame(1, T_DATA, 2900, 0, 1, 100, detail=7)
                    + t_recv(0, 1, 1, 30000)
                    + t_frame(0, T_RTS, 16384, 1, 1 | 16, 10000, detail=1)
                    + t_frame(0, T_DATA, 10000, 1, 1 | 16, 16384, detail=1))
    # v4: the rest of a rendezvous in several DATA chunks, each after the
    # last; one past the message's end.
    s["rndv-in-chunks"] = (hs + t_frame(1, T_RTS, 100, 0, 1, 2900, detail=7)
                           + t_recv(1, 0, 0, 3000)
                           + t_frame(1, T_DATA, 1000, 0, 1, 2000, detail=7)
                           + t_frame(1, T_DATA, 1900, 0, 1, 1100, detail=7)
                           + t_recv(0, 1, 1, 30000)
                           + t_frame(0, T_RTS, 16384, 1, 1 | 16, 10000, detail=1)
                           + t_frame(0, T_DATA, 4000, 1, 1 | 16, 22384, detail=1)
                           + t_frame(0, T_DATA, 6000, 1, 1 | 16, 20384, detail=1)
                           + t_frame(0, T_DATA, 0, 1, 1, 26384, detail=1))
    s["rndv-in-chunk-past-end"] = (hs + t_recv(1, 0, 0, 5000)
                                   + t_frame(1, T_RTS, 100, 0, 1, 4900, detail=3)
                                   + t_frame(1, T_DATA, 3000, 0, 1, 2000, detail=3)
                                   + t_frame(1, T_DATA, 2500, 0, 1, 2500, detail=3))
    # Sends in chunks: three, then two behind a refused one.
    big = 2 * DATA_CHUNK + 4096
    s["rndv-out-chunks"] = (hs + t_send(1, 0, 0, big) + t_frame(1, T_CTS, 0, detail=1)
                            + t_simple(5, 1) * 4 + t_send(0, 1, 1, 400000)
                            + t_send(0, 2, 2, 300000)
                            + t_frame(0, T_CTS, 0, detail=2, status=-12)
                            + t_frame(0, T_CTS, 0, detail=3) + t_simple(5, 0) * 4)
    # Control before data (flags 0x10: the peers read only when told): the
    # DATA chunks fill the socket, then the CTS for rank 2's RTS and a
    # zero-byte send overtake what is queued.
    s["control-overtakes"] = (b"\x13\x10\x00\x00" + t_send(1, 0, 0, big)
                              + t_frame(1, T_CTS, 0, detail=1) + t_simple(5, 1)
                              + t_frame(1, T_RTS, 100, 2, 1, 29900, detail=9)
                              + t_recv(1, 2, 1, 30000) + t_send(1, 3, 2, 0)
                              + t_send(1, 0, 3, 20000) + t_frame(1, T_ACK, 0, 0, 1, 100)
                              + (t_simple(9, 1) + t_simple(5, 1)) * 12)
    # Small send buffers (flags 0x20): the CTS comes while the head of its
    # RTS is still being written; then one refused the same way.
    s["early-cts"] = (b"\x33\x10\x00\x00" + t_send(1, 0, 0, 30000) + t_simple(9, 1)
                      + t_frame(1, T_CTS, 0, detail=1) + (t_simple(9, 1) * 2) * 6
                      + t_send(0, 1, 1, 20000) + t_frame(0, T_CTS, 0, detail=2, status=-12)
                      + (t_simple(9, 0) * 2) * 6
                      + t_send(0, 1, 2, 20000) + t_frame(0, T_CTS, 0, detail=3, status=-5)
                      + t_simple(9, 0) * 4)
    s["rndv-too-long"] = (hs + t_recv(1, 0, 0, 100)
                          + t_frame(1, T_RTS, 50, 0, 1, 300, detail=2)
                          + t_frame(1, T_RTS, 50, 0, 1, 300, detail=3)
                          + t_recv(1, 0, 1, 10) + t_frame(1, T_DATA, 10, 0, 1, 340, detail=3))
    s["rndv-out"] = (hs + t_send(1, 0, 0, 30000) + t_simple(5, 1)
                     + t_frame(1, T_CTS, 0, detail=1) + t_send(0, 1, 1, 20000)
                     + t_frame(0, T_CTS, 0, detail=2, status=-12)
                     + t_send(1, 2, 2, 12000) + t_frame(1, T_ACK, 0, 0, 1, 12000)
                     + t_frame(1, T_CTS, 0, detail=9))
    s["rma-target"] = (hs + t_frame(1, T_PUT, 64, rma=(1, 0, 0, 0, 0))
                       + t_frame(1, T_GET_REQ, 0, rma=(2, 0, 128, 64, 0))
                       + t_frame(1, T_FADD, 0, rma=(3, 0, 256, 5, 0))
                       + t_frame(1, T_CSWAP, 0, rma=(4, 0, 256, 5, 9))
                       + t_frame(0, T_PUT, 16, misc=4, rma=(5, 9, 0, 0, 0))
                       + t_frame(0, T_PUT, 16, rma=(6, 0, 65530, 0, 0))
                       + t_frame(0, T_PUT, 16, misc=8, rma=(6, 0, 8, 0, 0))
                       + t_frame(0, T_FADD, 0, rma=(7, 0, 3, 1, 0))
                       + t_frame(1, T_PUT, 20000, misc=16, rma=(8, 0, 0, 0, 0))
                       + t_simple(8, 0) + t_frame(0, T_GET_REQ, 0, rma=(9, 0, 0, 8, 0)))
    s["rma-initiator"] = (hs + t_rma(1, 0, 0, 1, 100) + t_rma(1, 1, 1, 1, 64)
                          + t_rma(1, 2, 2, 1, 0) + t_rma(1, 3, 3, 1, 0)
                          + t_frame(1, T_PUT_ACK, 0, rma=(1, 0, 0, 0, 0))
                          + t_frame(1, T_GET_RESP, 64, rma=(2, 0, 0, 0, 0))
                          + t_frame(1, T_ARESP, 0, rma=(3, 0, 0, 42, 0))
                          + t_frame(1, T_ARESP, 0, status=-14, rma=(4, 0, 0, 0, 0))
                          + t_rma(0, 1, 5, 1, 10) + t_frame(0, T_GET_RESP, 9, rma=(5, 0, 0, 0, 0)))
    s["goodbye"] = (hs + t_recv(1, 0, 0, 10)
                    + t_frame(1, T_GOODBYE, 11, status=-12, payload=b"bad\nthings")
                    + t_frame(0, T_GOODBYE, 0) + t_recv(0, 0, 1, 10))
    s["cancel"] = (hs + t_recv(1, 0, 0, 10) + t_simple(6, 1, 0) + t_recv(1, 1, 1, 9000)
                   + t_frame(1, T_SEND, 9000, 1, misc=16) + t_simple(6, 1, 1)
                   + t_recv(1, 1, 2, 20000) + t_frame(1, T_RTS, 100, 1, 1, 19900, detail=4)
                   + t_simple(6, 1, 2))
    s["eof-mid-frame"] = (hs + t_recv(1, 0, 0, 200)
                          + t_raw(1, tcp_hdr(T_SEND, 100) + b"0123456789")
                          + t_simple(7, 1) + t_simple(7, 0))
    # Handshakes by the harness with a choice of wrong claims or tags (see
    # dialer_handshake and acceptor_handshake in fuzz_tcp.c).
    for c2, c0 in ((0x01, 0x00), (0x07, 0x01 | 2 << 1), (0x08, 0x10), (0x10, 0x20 | 2),
                   (0x40, 0x40), (0x80, 0x80), (0x20, 0x01 | 1 << 1)):
        s[f"hs-choice-{c2:02x}-{c0:02x}"] = b"\x03\x01" + bytes([c2, c0])
    s["hs-leave"] = b"\x0f\x01\x00\x00" + t_recv(1, 0, 0, 10)
    from2, from0 = tcp_raw_handshakes()
    s["raw-handshakes"] = (b"\x00\x00" + u16(len(from2)) + from2 + u16(len(from0)) + from0
                           + t_raw(1, tcp_hdr(T_SEND, 4, u=struct.pack("<Q", 1)) + b"abcd")
                           + t_recv(1, 1, 0, 4))
    # The credit is not among the claims the tag covers: 4 TiB of it, then an
    # unexpected SEND of 512 GiB, whose buffer cannot be allocated.
    from2, _ = tcp_raw_handshakes(0xFFFFFFFF)
    s["raw-huge-credit"] = (b"\x02\x00" + u16(len(from2)) + from2 + b"\x00"
                            + t_raw(1, tcp_hdr(T_SEND, 1 << 39, u=struct.pack("<Q", 1))))
    s["raw-bad-hello"] = (b"\x00\x00" + u16(96) + hello(0, 2, 4, 1, 1) + b"\x00" * 32
                          + u16(96) + hello(F_ACK, 0, 3, 1, 1, -21, 1) + b"\x00" * 32)
    s["raw-frames"] = (hs + t_raw(0, tcp_hdr(T_SEND, 1 << 41))
                       + t_raw(1, tcp_hdr(T_CTS, 5)) + t_raw(1, b"\x00" * 64))
    return s


# ---- fuzz_verbs_cm -----------------------------------------------------------

V_EAGER, V_RTS, V_CTS, V_HELLO, V_BYE = 1, 2, 3, 4, 5


def vx(type_, length=0, tag_=0, id_=0, flags=0, text_len=0, status=0, u=b""):
    return struct.pack("<BBHiQQQ", type_, flags, text_len, status, tag_, length,
                       id_) + u.ljust(24, b"\x00") + b"\x00" * 8


def v_msg(m):
    return u16(len(m)) + m


def verbs_seeds():
    s = {}
    ch = bytes(range(16))
    msgs = (v_msg(vx(V_EAGER, 10, 1) + b"0123456789") + v_msg(vx(V_RTS, 20000, 2, 77))
            + v_msg(vx(V_CTS, 100, 0, 5)) )
    s["plain-2"] = b"\x00\x00\x00\x01" + ch + v_msg(vx(V_EAGER, 3, 1) + b"abc")
    s["plain-8"] = (b"\x00\x06\x03\x06" + ch + msgs)
    s["hello-bye"] = (b"\x00\x01\x00\x02" + ch
                      + v_msg(vx(V_HELLO, u=struct.pack("<ii", 0, 3)))
                      + v_msg(vx(V_BYE, text_len=5, status=-10) + b"bye!\x07"))
    s["no-cm"] = b"\x80\x02\x01\x03" + ch + v_msg(vx(V_EAGER, 0, 4))
    s["cm-differs"] = b"\x40\x02\x00\x01" + ch
    s["not-served"] = b"\x00\x42\x00\x02" + ch
    s["connected"] = b"\x00\x82\x00\x02" + ch
    s["dialer-lower"] = b"\x00\x03\x03\x01" + ch
    # mode bits: 1 / 2 change / replace the blob, 4 / 8 the request,
    # 16 / 32 the reply.
    s["blob-changed"] = b"\x01\x02\x00\x02" + ch + b"\x00\x1c\x05\x00"
    s["req-replaced"] = b"\x08\x02\x00\x02" + ch + bytes([44]) + bytes(44)
    s["rep-changed"] = b"\x10\x02\x00\x02" + ch + b"\x01\x28\x01\x01\x20"
    s["short-messages"] = (b"\x00\x01\x00\x01" + ch + v_msg(b"\x01" * 10)
                           + v_msg(vx(V_EAGER, 100, 1) + b"x")
                           + v_msg(vx(V_BYE, text_len=300) + b"t" * 10))
    return s


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for harness, seeds in (("fuzz_store", store_seeds()), ("fuzz_tcp", tcp_seeds()),
                           ("fuzz_verbs_cm", verbs_seeds())):
        d = os.path.join(root, harness)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.startswith("seed-"):
                os.unlink(os.path.join(d, f))
        for name, data in seeds.items():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
