#version 450
#define TYPE_IQ4_XS
#include "mul_mat_coopmat.glsl"
