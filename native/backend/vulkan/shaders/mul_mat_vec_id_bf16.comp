#version 450
#define TYPE_BF16
#define MUL_MAT_ID
#include "mul_mat_vec.glsl"
