module App
end
