/* SPDX-License-Identifier: BSD-3-Clause */
/* The layer lists of rcomm-overlap-perf (overlap_layers.h). Each model is
 * written in forward order, parameter by parameter as named_parameters()
 * lists them, then reversed. */
#include "perf/overlap_layers.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ovl_model_t *m;
    double scale;
    int failed;
} builder_t;

static void add(builder_t *b, size_t count, const char *fmt, ...)
{
    ovl_model_t *m = b->m;
    ovl_tensor_t *t;
    double scaled = nearbyint((double)count * b->scale);
    va_list ap;

    if (b->failed)
        return;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 64;
        ovl_tensor_t *nt = realloc(m->t, (size_t)cap * sizeof(*nt));
        if (!nt) {
            b->failed = 1;
            return;
        }
        m->t = nt;
        m->cap = cap;
    }
    t = &m->t[m->n++];
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    t->count = scaled < 1 ? 1 : (size_t)scaled;
    m->params += t->count;
}

/* A BatchNorm's or LayerNorm's affine parameters. */
static void norm(builder_t *b, const char *prefix, size_t c)
{
    add(b, c, "%s.weight", prefix);
    add(b, c, "%s.bias", prefix);
}

/* torchvision.models.resnet50: conv1 7x7, then four stages of bottleneck
 * blocks (1x1, 3x3, 1x1 convolutions without bias, each followed by a
 * BatchNorm; the first block of each stage has a 1x1 downsample), then fc. */
static void resnet50(builder_t *b)
{
    static const size_t planes[4] = {64, 128, 256, 512};
    static const int blocks[4] = {3, 4, 6, 3};
    size_t in = 64;
    char p[48];

    add(b, 64 * 3 * 7 * 7, "conv1.weight");
    norm(b, "bn1", 64);
    for (int l = 0; l < 4; l++) {
        const size_t w = planes[l], out = 4 * planes[l];

        for (int k = 0; k < blocks[l]; k++) {
            snprintf(p, sizeof(p), "layer%d.%d", l + 1, k);
            add(b, w * in, "%s.conv1.weight", p);
            snprintf(p, sizeof(p), "layer%d.%d.bn1", l + 1, k);
            norm(b, p, w);
            add(b, w * w * 3 * 3, "layer%d.%d.conv2.weight", l + 1, k);
            snprintf(p, sizeof(p), "layer%d.%d.bn2", l + 1, k);
            norm(b, p, w);
            add(b, out * w, "layer%d.%d.conv3.weight", l + 1, k);
            snprintf(p, sizeof(p), "layer%d.%d.bn3", l + 1, k);
            norm(b, p, out);
            if (k == 0) {
                add(b, out * in, "layer%d.%d.downsample.0.weight", l + 1, k);
                snprintf(p, sizeof(p), "layer%d.%d.downsample.1", l + 1, k);
                norm(b, p, out);
            }
            in = out;
        }
    }
    add(b, 1000 * 2048, "fc.weight");
    add(b, 1000, "fc.bias");
}

/* transformers.BertModel with bert-base-uncased's configuration: hidden 768,
 * 12 layers, intermediate 3072, vocabulary 30522, 512 positions, 2 token
 * types; Linear weights are out x in, every Linear has a bias. */
static void bert_base(builder_t *b)
{
    static const char *const qkv[3] = {"query", "key", "value"};
    const size_t h = 768, ff = 3072;
    char p[64];

    add(b, 30522 * h, "embeddings.word_embeddings.weight");
    add(b, 512 * h, "embeddings.position_embeddings.weight");
    add(b, 2 * h, "embeddings.token_type_embeddings.weight");
    norm(b, "embeddings.LayerNorm", h);
    for (int l = 0; l < 12; l++) {
        for (int k = 0; k < 3; k++) {
            add(b, h * h, "encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
            add(b, h, "encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
        }
        add(b, h * h, "encoder.layer.%d.attention.output.dense.weight", l);
        add(b, h, "encoder.layer.%d.attention.output.dense.bias", l);
        snprintf(p, sizeof(p), "encoder.layer.%d.attention.output.LayerNorm", l);
        norm(b, p, h);
        add(b, ff * h, "encoder.layer.%d.intermediate.dense.weight", l);
        add(b, ff, "encoder.layer.%d.intermediate.dense.bias", l);
        add(b, h * ff, "encoder.layer.%d.output.dense.weight", l);
        add(b, h, "encoder.layer.%d.output.dense.bias", l);
        snprintf(p, sizeof(p), "encoder.layer.%d.output.LayerNorm", l);
        norm(b, p, h);
    }
    add(b, h * h, "pooler.dense.weight");
    add(b, h, "pooler.dense.bias");
}

static void synthetic(builder_t *b, int layers, size_t count)
{
    for (int i = 0; i < layers; i++)
        add(b, count, "layer.%d", i);
}

int ovl_model_build(ovl_model_t *m, const char *model, double scale, int syn_layers,
                    size_t syn_count)
{
    builder_t b = {m, scale, 0};

    if (strcmp(model, "resnet50") == 0)
        resnet50(&b);
    else if (strcmp(model, "bert-base") == 0)
        bert_base(&b);
    else if (strcmp(model, "synthetic") == 0)
        synthetic(&b, syn_layers, syn_count);
    else {
        errno = EINVAL;
        return -1;
    }
    if (b.failed || m->n == 0) {
        ovl_model_free(m);
        errno = b.failed ? ENOMEM : EINVAL;
        return -1;
    }
    for (int i = 0, j = m->n - 1; i < j; i++, j--) { /* backprop order */
        ovl_tensor_t t = m->t[i];
        m->t[i] = m->t[j];
        m->t[j] = t;
    }
    return 0;
}

void ovl_model_free(ovl_model_t *m)
{
    free(m->t);
    *m = (ovl_model_t){0};
}
