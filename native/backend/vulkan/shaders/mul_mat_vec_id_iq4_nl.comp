#version 450
#define TYPE_IQ4_NL
#define MUL_MAT_ID
#include "mul_mat_vec.glsl"
