#version 450
#define TYPE_Q4_1
#include "mul_mat_coopmat.glsl"
