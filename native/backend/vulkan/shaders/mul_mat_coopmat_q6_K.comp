#version 450
#define TYPE_Q6_K
#include "mul_mat_coopmat.glsl"
