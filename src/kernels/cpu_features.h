// What this CPU offers the kernels: instruction sets the hardware and the OS both enable, and
// the model name that every reported figure is written next to.
#pragma once
#include <string>

namespace adallava {

struct CpuFeatures {
  std::string model;         // brand string with family and model, e.g. "AMD EPYC 9R45 (family 26 model 2)"
  bool avx2 = false;         // AVX2 with FMA and F16C
  bool avx512 = false;       // AVX-512 F/BW/VL/DQ (with FMA and F16C)
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd (8-bit dot products), with AVX-512 VL
  bool amx_bf16 = false;     // AMX tiles with bf16 products, and Linux granted their state to this process
  bool intel = false;        // GenuineIntel (prefetching that suits its cores: see quant_dot.h)
};

// Detected once (the AMX permission is requested from Linux then).
const CpuFeatures& cpu_features();

}  // namespace adallava
