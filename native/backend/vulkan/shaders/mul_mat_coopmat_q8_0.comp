#version 450
#define TYPE_Q8_0
#include "mul_mat_coopmat.glsl"
