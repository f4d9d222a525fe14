#version 450
#define TYPE_Q2_K
#define MUL_MAT_ID
#include "mul_mat_vec.glsl"
