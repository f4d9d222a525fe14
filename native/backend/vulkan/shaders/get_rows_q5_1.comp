#version 450
#define TYPE_Q5_1
#include "get_rows.glsl"
