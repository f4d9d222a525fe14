// Included first by every reference-conversion file: no floating-point contraction (a*b+c -> fma)
// in the rest of the file. ggml's reference code, as built for x86-64, rounds every product and
// sum separately; an FMA would change the bits (arm64 compilers fuse by default).
//
// Clang contracts within expressions by default, so it gets its pragma. GCC does not contract in
// ISO C++ mode, and native/CMakeLists.txt also passes -ffp-contract=off to these files; GCC's
// `#pragma GCC optimize` is avoided on purpose: it gives every later function its own
// optimisation attributes, and GCC does not inline across functions whose attributes differ.
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#endif
