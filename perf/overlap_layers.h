/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The layer lists of rcomm-overlap-perf: a model's gradient tensors in the
 * order backprop produces them (the reverse of the forward pass's parameter
 * order, as PyTorch DDP assumes), each count multiplied by a scale so that
 * sizes stay proportional but fit a small machine.
 *
 *   resnet50   torchvision's ResNet-50: 161 tensors, 25,557,032 parameters
 *              (fc.bias, fc.weight, layer4.2.bn3.bias, ..., conv1.weight)
 *   bert-base  Hugging Face's BertModel (bert-base-uncased): 199 tensors,
 *              109,482,240 parameters (pooler, 12 encoder layers from the
 *              last, then the embeddings)
 *   synthetic  N tensors of C elements each ("layer.N-1" first)
 */
#ifndef RCOMM_PERF_OVERLAP_LAYERS_H
#define RCOMM_PERF_OVERLAP_LAYERS_H

#include <stddef.h>

typedef struct {
    char name[64];
    size_t count; /* elements, after scaling (at least 1) */
} ovl_tensor_t;

typedef struct {
    ovl_tensor_t *t; /* backprop order */
    int n, cap;
    size_t params; /* sum of the counts */
} ovl_model_t;

/* The names ovl_model_build knows, for usage messages. */
#define OVL_MODELS "resnet50|bert-base|synthetic"

/* Fill m (zeroed by the caller) with model's tensors, every count multiplied
 * by scale and rounded (at least 1); syn_layers and syn_count are the
 * synthetic model's. 0, or -1 for an unknown name or no memory (errno says
 * which: EINVAL, ENOMEM). */
int ovl_model_build(ovl_model_t *m, const char *model, double scale, int syn_layers,
                    size_t syn_count);
void ovl_model_free(ovl_model_t *m);

#endif
