#version 450
#define TYPE_BF16
#include "mul_mat_coopmat.glsl"
