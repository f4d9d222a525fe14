#version 450
#define TYPE_Q4_0
#include "mul_mat_coopmat.glsl"
