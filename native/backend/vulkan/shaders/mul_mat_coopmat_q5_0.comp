#version 450
#define TYPE_Q5_0
#include "mul_mat_coopmat.glsl"
