/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer harness: what the verbs transport parses from its peers, with
 * no RDMA device (two transport structs filled by hand, as far as the
 * parsers read them). One input follows a connection through rdma_cm mode
 * (verbs_cm.c), from acceptor rank a to dialer rank d of a job of 2..8:
 *
 *   1. a's published address blob (vx_addr_pack), as is, changed by the
 *      input or replaced by it, parsed by d (vx_addr_unpack);
 *   2. d's connect request private data (vx_cm_priv, over the challenge d
 *      read from the blob), likewise, checked by a (vx_cm_request_rank);
 *   3. a's reply (vx_cm_priv), likewise, checked by d (vx_cm_reply_ok);
 *   4. the rest of the input as messages landing in d's receive slots from
 *      a (vx_rx_message), none of them posted for.
 *
 * What the library built and nothing changed must be accepted (the harness
 * aborts otherwise); nonces are fixed in fuzz builds (AUTH_FUZZ_NONCE).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/auth.h"
#include "fuzz/fuzz.h"
#include "transports/util/peer.h"
#include "transports/verbs/verbs.h"

#define MAX_SIZE 8
#define EAGER 8192
#define BLOB_MAX (64 + 4 * MAX_SIZE + 16) /* a blob is 64 + 4 * size bytes */

static auth_key_t key;
static struct ibv_mr credit_mr = {.rkey = 0x1234}; /* vx_addr_pack reads its rkey */

typedef struct {
    vx_tp_t tp;
    vx_peer_t peers[MAX_SIZE];
    int busy[MAX_SIZE];
} fake_t;

static fake_t fa, fd; /* the acceptor, the dialer */

static void fake_init(fake_t *f, int rank, int size, bool cm, const uint8_t *serves)
{
    tp_params_t params = {.rank = rank, .size = size, .serves = serves};

    memset(f, 0, sizeof(*f));
    if (tp_head_init(&f->tp.base, &tp_verbs_ops, &params) != RCOMM_OK)
        abort();
    f->tp.cm = cm;
    f->tp.connected = true;
    f->tp.key = key;
    f->tp.peers = f->peers;
    f->tp.busy = f->busy;
    f->tp.eager = EAGER;
    f->tp.credit_mr = &credit_mr;
    f->tp.lid = 7;
    f->tp.psn = 0x654321;
    f->tp.cm_ip = 0x0100007f;
    f->tp.cm_port = 7471;
    for (int r = 0; r < size; r++)
        f->peers[r].rank = r;
}

static void fake_fini(fake_t *f)
{
    for (int r = 0; r < f->tp.base.size; r++) {
        tp_unexp_t *ux;
        while ((ux = f->peers[r].m.unexp.head)) {
            BASE_FIFO_POP(&f->peers[r].m.unexp);
            free(ux);
        }
    }
    tp_head_fini(&f->tp.base);
}

/* The message as is (returns false), changed at a few places, or replaced
 * by input bytes (up to cap); *len may change. */
static bool alter(fuzz_in_t *in, unsigned how, unsigned char *buf, size_t *len,
                  size_t cap)
{
    if (how & 2) {
        *len = fuzz_u8(in) % (cap + 1);
        fuzz_bytes(in, buf, *len);
        return true;
    }
    if (how & 1) {
        for (unsigned n = 1 + fuzz_u8(in) % 4; n && *len; n--) {
            unsigned pos = fuzz_u8(in) % *len;
            buf[pos] ^= (unsigned char)fuzz_u8(in);
        }
        if (fuzz_u8(in) & 1) /* the CM hands over more than was sent, or less */
            *len = fuzz_u8(in) % (cap + 1);
        return true;
    }
    return false;
}

static void run(fuzz_in_t *in)
{
    unsigned mode = fuzz_u8(in), b = fuzz_u8(in);
    int size = 2 + (int)(b % (MAX_SIZE - 1));
    int a = (int)(fuzz_u8(in) % (unsigned)size), d = (int)(fuzz_u8(in) % (unsigned)size);
    bool cm = !(mode & 0x80), ok, plain;
    uint8_t serves[MAX_SIZE];
    _Alignas(8) unsigned char blob[BLOB_MAX], req[64], rep[64];
    size_t blob_len, req_len = 56, rep_len = 56; /* a REQ's private data: 56 */
    vx_cm_priv_t pd;
    int rank, dummy;

    for (int r = 0; r < size; r++)
        serves[r] = r != a && !(b & 0x40 && r == d);
    fake_init(&fa, a, size, cm, b & 0x40 ? serves : NULL);
    fake_init(&fd, d, size, (mode & 0x40) ? !cm : cm, NULL);
    fuzz_bytes(in, fa.tp.cm_challenge, AUTH_NONCE_LEN);
    if (b & 0x80) /* d has a connection already */
        fa.peers[d].cm_id = (struct rdma_cm_id *)&dummy;

    /* 1: the blob a publishes, as d reads it from the store. */
    memset(blob, 0, sizeof(blob));
    vx_addr_pack(&fa.tp, blob);
    blob_len = vx_addr_len(size);
    plain = !alter(in, mode, blob, &blob_len, sizeof(blob)) && !(mode & 0x40);
    if (vx_addr_unpack(&fd.tp, a, blob, blob_len) != RCOMM_OK && plain) {
        fprintf(stderr, "fuzz_verbs_cm: rank %d's own blob refused\n", a);
        abort();
    }

    /* 2: d's request, from what it read; a checks it. */
    memset(req, 0, sizeof(req));
    vx_cm_priv(&fd.tp, &fd.peers[a], &pd);
    memcpy(req, &pd, sizeof(pd));
    plain = !alter(in, mode >> 2, req, &req_len, sizeof(req)) && plain;
    rank = vx_cm_request_rank(&fa.tp, req, req_len);
    if (rank >= 0 && (rank <= a || rank >= size)) {
        fprintf(stderr, "fuzz_verbs_cm: a request from rank %d accepted\n", rank);
        abort();
    }
    if (plain && d > a && !(b & 0xc0) && rank != d) {
        fprintf(stderr, "fuzz_verbs_cm: rank %d's request refused (%d)\n", d, rank);
        abort();
    }

    /* 3: a's reply (to the request it took, as on_request makes it); d
     * checks it. */
    memset(rep, 0, sizeof(rep));
    if (rank >= 0) {
        memcpy(fa.peers[rank].cm_nonce, ((const vx_cm_priv_t *)req)->nonce,
               AUTH_NONCE_LEN);
        vx_cm_priv(&fa.tp, &fa.peers[rank], &pd);
        memcpy(rep, &pd, sizeof(pd));
    }
    plain = !alter(in, mode >> 4, rep, &rep_len, sizeof(rep)) && plain && rank == d;
    ok = vx_cm_reply_ok(&fd.tp, &fd.peers[a], rep, rep_len);
    if (plain && !ok) {
        fprintf(stderr, "fuzz_verbs_cm: rank %d's reply refused\n", a);
        abort();
    }

    /* 4: messages from a in d's receive slots. A slot holds VX_HDR_LEN +
     * eager bytes; each message gets a buffer of exactly its length, so
     * that ASan sees a read past it. */
    while (a != d && in->n && !fd.peers[a].fail.status) {
        size_t n = fuzz_u16(in) % (VX_HDR_LEN + EAGER + 1);
        char *slot = malloc(n ? n : 1);

        if (!slot)
            abort();
        fuzz_bytes(in, slot, n);
        vx_rx_message(&fd.tp, &fd.peers[a], slot, (uint32_t)n);
        free(slot);
    }
    fake_fini(&fa);
    fake_fini(&fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(&key);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};

    run(&in);
    return 0;
}
