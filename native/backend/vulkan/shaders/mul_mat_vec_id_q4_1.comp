#version 450
#define TYPE_Q4_1
#define MUL_MAT_ID
#include "mul_mat_vec.glsl"
