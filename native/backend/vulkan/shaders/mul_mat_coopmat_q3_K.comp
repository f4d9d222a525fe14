#version 450
#define TYPE_Q3_K
#include "mul_mat_coopmat.glsl"
