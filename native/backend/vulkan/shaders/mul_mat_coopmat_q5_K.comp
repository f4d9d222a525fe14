#version 450
#define TYPE_Q5_K
#include "mul_mat_coopmat.glsl"
