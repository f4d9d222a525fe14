#version 450
#define TYPE_BF16
#include "get_rows.glsl"
