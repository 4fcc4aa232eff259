// The backward of one LLaMA decoder layer as the inference decoder runs it in the masked form
// of the AdaLLaVA spec §5 (model/llama_decoder with a gated LayerPlan: every head and group
// computed, each head's attention output times its gate, each MLP neuron times its group's
// gate), from the trace that forward saved. llm.c style: explicit, no autograd graph.
#pragma once
#include <cstdint>

#include "model/llama_decoder.h"

namespace adallava::train {

struct LayerGrads {  // accumulated into; any may be null when not trained
  float *attn_norm, *mlp_norm, *q, *k, *v, *o, *gate, *up, *down;
};

// The f32 data of a weight the step trains from (training binds its params as f32 views).
const float* f32_data(const WeightView& w);

// A layer plan that runs every head and group with these gates (n_heads each).
LayerPlan gated_plan(int n_heads, const float* head_gates, const float* group_gates);

// dx (T, H) += ∂/∂x; dhead_gate, dgroup_gate (n_heads each) += ∂/∂gate (either may be null);
// weight gradients into g. Layer l of d ran forward_layer(l, lp, ..., &trace) at these positions.
void layer_backward(float* dx, float* dhead_gate, float* dgroup_gate, const float* dout, const LlamaDecoder& d, int l,
                    const LayerPlan& lp, const LayerGrads& g, const LlamaLayerTrace& trace,
                    const int64_t* positions);

}  // namespace adallava::train
