"""Classification: the seed's naive MLP and LeNet-5, cross-entropy, accuracy, confusion."""
