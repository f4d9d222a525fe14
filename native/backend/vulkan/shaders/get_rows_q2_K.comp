#version 450
#define TYPE_Q2_K
#include "get_rows.glsl"
