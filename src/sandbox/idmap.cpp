// id maps live in namespaces.cpp
