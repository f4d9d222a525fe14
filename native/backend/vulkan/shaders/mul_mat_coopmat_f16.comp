#version 450
#define TYPE_F16
#include "mul_mat_coopmat.glsl"
