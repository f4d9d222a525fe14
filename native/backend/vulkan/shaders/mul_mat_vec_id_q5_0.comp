#version 450
#define TYPE_Q5_0
#define MUL_MAT_ID
#include "mul_mat_vec.glsl"
