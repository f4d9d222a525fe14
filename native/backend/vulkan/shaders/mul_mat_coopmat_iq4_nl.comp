#version 450
#define TYPE_IQ4_NL
#include "mul_mat_coopmat.glsl"
