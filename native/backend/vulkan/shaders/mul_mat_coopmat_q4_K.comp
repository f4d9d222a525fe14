#version 450
#define TYPE_Q4_K
#include "mul_mat_coopmat.glsl"
