#version 450
#define TYPE_Q5_K
#include "get_rows.glsl"
