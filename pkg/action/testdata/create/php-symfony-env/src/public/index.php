<?php echo "symfony";
