// ftype.h: the table of quantization types (names and default types as in llama-quantize).
#include "quantize/ftype.h"

#include <cctype>

namespace petrel {
namespace {

const QuantType kQuantTypes[] = {
    {"q4_0", LlamaFtype::MOSTLY_Q4_0, GgmlType::Q4_0, "4.5 bpw, legacy 32-value blocks"},
    {"q4_1", LlamaFtype::MOSTLY_Q4_1, GgmlType::Q4_1, "5.0 bpw, legacy 32-value blocks with a min"},
    {"q5_0", LlamaFtype::MOSTLY_Q5_0, GgmlType::Q5_0, "5.5 bpw, legacy 32-value blocks"},
    {"q5_1", LlamaFtype::MOSTLY_Q5_1, GgmlType::Q5_1, "6.0 bpw, legacy 32-value blocks with a min"},
    {"q8_0", LlamaFtype::MOSTLY_Q8_0, GgmlType::Q8_0, "8.5 bpw, nearly lossless"},
    {"q2_k", LlamaFtype::MOSTLY_Q2_K, GgmlType::Q2_K, "mostly Q2_K, attention and ffn_down higher"},
    {"q3_k_s", LlamaFtype::MOSTLY_Q3_K_S, GgmlType::Q3_K, "all Q3_K"},
    {"q3_k_m", LlamaFtype::MOSTLY_Q3_K_M, GgmlType::Q3_K, "Q3_K, some attn_v/ffn_down Q4_K/Q5_K"},
    {"q3_k_l", LlamaFtype::MOSTLY_Q3_K_L, GgmlType::Q3_K, "Q3_K, attn_v/ffn_down/attn_output Q5_K"},
    {"q4_k_s", LlamaFtype::MOSTLY_Q4_K_S, GgmlType::Q4_K, "mostly Q4_K, first layers Q5_K"},
    {"q4_k_m", LlamaFtype::MOSTLY_Q4_K_M, GgmlType::Q4_K, "Q4_K, half of attn_v/ffn_down Q6_K (recommended)"},
    {"q5_k_s", LlamaFtype::MOSTLY_Q5_K_S, GgmlType::Q5_K, "all Q5_K"},
    {"q5_k_m", LlamaFtype::MOSTLY_Q5_K_M, GgmlType::Q5_K, "Q5_K, half of attn_v/ffn_down Q6_K"},
    {"q6_k", LlamaFtype::MOSTLY_Q6_K, GgmlType::Q6_K, "6.56 bpw"},
    {"iq4_nl", LlamaFtype::MOSTLY_IQ4_NL, GgmlType::IQ4_NL, "4.5 bpw non-linear, 32-value blocks"},
    {"iq4_xs", LlamaFtype::MOSTLY_IQ4_XS, GgmlType::IQ4_XS, "4.25 bpw non-linear"},
    {"f16", LlamaFtype::MOSTLY_F16, GgmlType::F16, "16-bit floats"},
    {"bf16", LlamaFtype::MOSTLY_BF16, GgmlType::BF16, "16-bit brain floats"},
    {"f32", LlamaFtype::ALL_F32, GgmlType::F32, "32-bit floats (plain conversion)"},
};

}  // namespace

const QuantType* find_quant_type(std::string_view name) {
  for (const QuantType& t : kQuantTypes) {
    std::string_view n(t.name);
    if (n.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < n.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(name[i])) == n[i];
    }
    if (same) return &t;
  }
  return nullptr;
}

const QuantType* quant_type_table(size_t* count) {
  *count = sizeof(kQuantTypes) / sizeof(kQuantTypes[0]);
  return kQuantTypes;
}

}  // namespace petrel
