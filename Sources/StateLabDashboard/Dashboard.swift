import StateLab
