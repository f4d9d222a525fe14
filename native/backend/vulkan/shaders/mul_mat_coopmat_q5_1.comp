#version 450
#define TYPE_Q5_1
#include "mul_mat_coopmat.glsl"
