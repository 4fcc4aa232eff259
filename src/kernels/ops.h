// Row-wise operations of the models. Shapes in comments: T rows of width C, row-major.
#pragma once
#include <cstdint>

namespace adallava {

// out = x / sqrt(mean(x²) + eps) * w   (LLaMA RMSNorm, f32)          x, out (T, C); w (C)
void rms_norm(float* out, const float* x, const float* w, int64_t T, int64_t C, float eps);
// out = (x - mean) / sqrt(var + eps) * w + b   (LayerNorm, f32)      x, out (T, C); w, b (C)
void layer_norm(float* out, const float* x, const float* w, const float* b, int64_t T, int64_t C, float eps);

void gelu_erf(float* x, int64_t n);     // x * 0.5 * (1 + erf(x / sqrt 2)), in place
void quick_gelu(float* x, int64_t n);   // x * sigmoid(1.702 x), in place
void silu(float* x, int64_t n);         // x * sigmoid(x), in place
// Applies the named activation (HF ACT2FN names: gelu, quick_gelu, silu, gelu_pytorch_tanh...).
void activation(const char* name, float* x, int64_t n);
bool activation_known(const char* name);

// gate = silu(gate) * up   (SwiGLU)                                   gate, up (n)
void swiglu(float* gate, const float* up, int64_t n);

// In-place softmax of scale times the first n entries of x (f32, max-subtracted).
void softmax(float* x, int64_t n, float scale = 1.f);

// dst = bf16(src), rounded to nearest even (f32_to_bf16 of each).
void round_to_bf16(const float* src, uint16_t* dst, int64_t n);

void add_inplace(float* y, const float* x, int64_t n);  // y += x

// HF LLaMA rotary embedding (half-split "rotate_half" layout) applied in place to n_heads heads
// of size head_dim in each of T rows (row stride ld); row t has position positions[t].
// inv_freq (head_dim/2) as transformers computes it in f32. adjacent_pairs rotates (2i, 2i+1)
// instead (llama.cpp's layout of GGUF q/k rows), with the same angles.
void rope_apply(float* x, int64_t ld, int64_t T, int n_heads, int head_dim, const int64_t* positions,
                const float* inv_freq, bool adjacent_pairs = false);
void rope_inv_freq(float* inv_freq, int head_dim, float theta);

}  // namespace adallava
