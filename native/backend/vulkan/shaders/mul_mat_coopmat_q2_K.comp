#version 450
#define TYPE_Q2_K
#include "mul_mat_coopmat.glsl"
