#version 450
#define TYPE_F32
#include "mul_mat_coopmat.glsl"
