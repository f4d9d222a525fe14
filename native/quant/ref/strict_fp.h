// Included first by every reference-conversion file: turns off floating-point contraction
// (a*b+c -> fma) for the rest of the file. ggml's reference code, as built for x86-64, rounds
// every product and sum separately; an FMA would change the bits (arm64 compilers fuse by default).
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
