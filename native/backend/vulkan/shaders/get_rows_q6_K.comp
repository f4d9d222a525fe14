#version 450
#define TYPE_Q6_K
#include "get_rows.glsl"
