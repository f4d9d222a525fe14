#version 450
#define TYPE_Q8_0
#include "mul_mat_vec_int8.glsl"
