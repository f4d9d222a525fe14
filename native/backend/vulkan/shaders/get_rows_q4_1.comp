#version 450
#define TYPE_Q4_1
#include "get_rows.glsl"
